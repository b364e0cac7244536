#include "core/ops/elemwise.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/ops/theano_scalar.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

enum class Fn {
  kTanh,
  kSigmoid,
  kUltraFastSigmoid,
  kHardSigmoid,
  kSoftplus,
  kSoftsign,
  kRelu,
  kElu,
  kSelu,
  kExp,
  kAbs,
  kNeg,
  kSqr,
  kSqrt,
  kLog,
  kInv,
  kClip,
};

struct FnInfo {
  const char* name;
  Fn fn;
  int flops;  // Rough cost of one element; transcendental functions count
              // as 10.
};

constexpr FnInfo kFns[] = {
    {"tanh", Fn::kTanh, 10},
    {"sigmoid", Fn::kSigmoid, 13},
    {"ultra_fast_sigmoid", Fn::kUltraFastSigmoid, 6},
    {"hard_sigmoid", Fn::kHardSigmoid, 4},
    {"softplus", Fn::kSoftplus, 21},
    {"softsign", Fn::kSoftsign, 3},
    {"relu", Fn::kRelu, 4},
    {"elu", Fn::kElu, 12},
    {"selu", Fn::kSelu, 13},
    {"exp", Fn::kExp, 10},
    {"abs", Fn::kAbs, 1},
    {"neg", Fn::kNeg, 1},
    {"sqr", Fn::kSqr, 1},
    {"sqrt", Fn::kSqrt, 1},
    {"log", Fn::kLog, 10},
    {"inv", Fn::kInv, 1},
    {"clip", Fn::kClip, 2},
};

// The cut-offs of Theano's C code for ScalarSigmoid and ScalarSoftplus
// (theano/tensor/nnet/sigm.py). Outside them the C code returns the limit
// instead of calling exp, so e.g. sigmoid(-88) is the subnormal 6.05e-39 but
// sigmoid(-88.5) is exactly 0. float16 uses the float32 constants.
template <typename T>
struct Cutoffs;
template <>
struct Cutoffs<float> {
  static constexpr float kSigmoidLo = -88.0f;
  static constexpr float kSigmoidHi = 15.0f;
  static constexpr float kSoftplusLo = -103.0f;
  static constexpr float kSoftplusHi = 14.0f;
};
template <>
struct Cutoffs<double> {
  static constexpr double kSigmoidLo = -709.0;
  static constexpr double kSigmoidHi = 19.0;
  static constexpr double kSoftplusLo = -745.0;
  static constexpr double kSoftplusHi = 16.0;
};

// All functions below call the std:: overload for T, as Theano's generated C++
// does: for float that is expf/tanhf/log1pf/expm1f (the golden data matches
// these bit for bit, not the double versions rounded to float).

template <typename T>
T Sigmoid(T x) {
  if (x < Cutoffs<T>::kSigmoidLo) return T(0);
  if (x > Cutoffs<T>::kSigmoidHi) return T(1);
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
T Softplus(T x) {
  if (x < Cutoffs<T>::kSoftplusLo) return T(0);
  if (x > Cutoffs<T>::kSoftplusHi) return x;
  return std::log1p(std::exp(x));
}

// UltraFastScalarSigmoid: 0.5 * (fast_tanh(0.5 * x) + 1) with a piecewise tanh.
// The C code keeps the half-argument and the tanh approximation in variables of
// the output type (float32 for float input) but evaluates each expression in
// double, because its literals are doubles. The linear piece is a multiply-add
// that g++ contracts to an FMA.
template <typename T>
T UltraFastSigmoid(T x_in) {
  const T x = static_cast<T>(0.5 * x_in);
  const T ax = x >= 0 ? x : -x;
  T z;
  if (ax < 1.7) {
    z = static_cast<T>(1.5 * ax / (1 + ax));
  } else if (ax < 3) {
    z = static_cast<T>(std::fma(0.0458812946797165, ax - 1.7, 0.935409070603099));
  } else {
    z = static_cast<T>(0.99505475368673);
  }
  if (!(x >= 0)) z = -z;
  return static_cast<T>(0.5 * (z + 1.));
}

// hard_sigmoid builds the graph clip(x * 0.2 + 0.5, 0, 1) with constants of x's
// type; the fused C code contracts the multiply-add to an FMA (the golden data
// needs the FMA to be bit-exact). Theano's clip is `x < lo ? lo : x > hi ? hi :
// x`, so NaN passes through.
template <typename T>
T HardSigmoid(T x) {
  const T v = std::fma(x, T(0.2), T(0.5));
  if (v < T(0)) return T(0);
  if (v > T(1)) return T(1);
  return v;
}

// ScalarSoftsign's C code is `x / (1.0 + fabs(x))`: the literal 1.0 is a
// double, so a float32 input is divided in double and rounded once.
template <typename T>
T Softsign(T x) {
  return static_cast<T>(static_cast<double>(x) / (1.0 + std::fabs(static_cast<double>(x))));
}

// The SELU constants of theano.tensor.nnet.selu (1.0.5): scale * elu(x, alpha),
// with both Python floats turned into constants of x's type.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <typename T>
class ElemwiseLayer : public Layer<T> {
 public:
  // `alpha` is already in T: Theano makes the Python float a constant of x's
  // dtype.
  ElemwiseLayer(LayerSpec spec, const FnInfo& info, T alpha, T clip_min = T(0), T clip_max = T(0))
      : Layer<T>(std::move(spec)),
        info_(info),
        alpha_(alpha),
        clip_min_(clip_min),
        clip_max_(clip_max) {
    // relu(x, alpha) = f1 * x + f2 * |x|, with f1 and f2 constant-folded in T.
    relu_f1_ = T(0.5) * (T(1) + alpha_);
    relu_f2_ = T(0.5) * (T(1) - alpha_);
  }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    return inputs[0];
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    Apply(inputs[0]->data(), output->data(), inputs[0]->size());
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    l.kind = LoweredKind::kElementwise;
    if (info_.fn == Fn::kTanh) l.activation = Activation::kTanh;
    if (info_.fn == Fn::kSigmoid) l.activation = Activation::kSigmoid;
    if (info_.fn == Fn::kRelu && alpha_ == T(0)) l.activation = Activation::kRelu;
    if (info_.fn == Fn::kRelu && alpha_ != T(0)) {
      l.leaky = true;
      l.leaky_f1 = relu_f1_;
      l.leaky_f2 = relu_f2_;
    }
    l.apply = [this](const T* x, T* y, int64_t n) { Apply(x, y, n); };
    return l;
  }

  // y[i] = f(x[i]) for i < n; x == y is allowed.
  void Apply(const T* x, T* y, int64_t n) const {
    switch (info_.fn) {
      case Fn::kTanh:
        for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
        break;
      case Fn::kSigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = Sigmoid(x[i]);
        break;
      case Fn::kUltraFastSigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = UltraFastSigmoid(x[i]);
        break;
      case Fn::kHardSigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = HardSigmoid(x[i]);
        break;
      case Fn::kSoftplus:
        for (int64_t i = 0; i < n; ++i) y[i] = Softplus(x[i]);
        break;
      case Fn::kSoftsign:
        for (int64_t i = 0; i < n; ++i) y[i] = Softsign(x[i]);
        break;
      case Fn::kRelu:
        if (alpha_ == T(0)) {
          // relu(x, 0) is the graph 0.5 * (x + |x|): exact for finite x below
          // max/2 (and +0 for x <= 0), but like Theano it overflows to inf
          // above half the largest finite value.
          for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * (x[i] + std::fabs(x[i]));
        } else {
          // f1 * x + f2 * |x| as g++ contracts it (theano_scalar::LeakyRelu).
          for (int64_t i = 0; i < n; ++i) y[i] = theano_scalar::LeakyRelu(x[i], relu_f1_, relu_f2_);
        }
        break;
      case Fn::kElu:
        // switch(x > 0, x, alpha * expm1(x)); NaN takes the expm1 branch and
        // stays NaN.
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : alpha_ * std::expm1(x[i]);
        break;
      case Fn::kSelu: {
        const T alpha = static_cast<T>(kSeluAlpha);
        const T scale = static_cast<T>(kSeluScale);
        for (int64_t i = 0; i < n; ++i) {
          y[i] = scale * (x[i] > T(0) ? x[i] : alpha * std::expm1(x[i]));
        }
        break;
      }
      case Fn::kExp:
        for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
        break;
      case Fn::kAbs:
        for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
        break;
      // The scalar ops of theano/scalar/basic.py, their C code in T: `-x`, `x * x`, `sqrt(x)`,
      // `log(x)` (sqrtf/logf for float32), `1.0 / x`, `x < lo ? lo : x > hi ? hi : x`.
      case Fn::kNeg:
        for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
        break;
      case Fn::kSqr:
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i];
        break;
      case Fn::kSqrt:
        for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
        break;
      case Fn::kLog:
        for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
        break;
      case Fn::kInv:
        for (int64_t i = 0; i < n; ++i) y[i] = theano_scalar::Inv(x[i]);
        break;
      case Fn::kClip:
        for (int64_t i = 0; i < n; ++i) y[i] = theano_scalar::Clip(x[i], clip_min_, clip_max_);
        break;
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    return inputs.empty() ? 0 : info_.flops * NumElements(inputs[0]);
  }

 private:
  FnInfo info_;
  T alpha_;
  T clip_min_;  // clip: the bounds, in T (Theano makes the Python floats constants of x's dtype).
  T clip_max_;
  T relu_f1_;
  T relu_f2_;
};

template <typename T>
class BiasAddLayer : public Layer<T> {
 public:
  BiasAddLayer(LayerSpec spec, int64_t axis, Tensor<T> b)
      : Layer<T>(std::move(spec)), axis_(axis), b_(std::move(b)) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    const int64_t rank = static_cast<int64_t>(in.size());
    const int64_t axis = axis_ < 0 && axis_ >= -rank ? axis_ + rank : axis_;  // No overflow.
    if (axis < 0 || axis >= rank) {
      return LayerError(this->spec(), absl::StrCat("axis ", axis_, " is out of range for input ",
                                                   ShapeToString(in), " of rank ", rank));
    }
    if (in[static_cast<size_t>(axis)] != b_.size()) {
      return LayerError(this->spec(),
                        absl::StrCat("input ", ShapeToString(in), " has ",
                                     in[static_cast<size_t>(axis)], " entries along axis ", axis,
                                     ", b ", ShapeToString(b_.shape()), " has ", b_.size()));
    }
    return in;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const int64_t axis = axis_ < 0 ? axis_ + in.rank() : axis_;
    int64_t outer = 1;
    int64_t inner = 1;
    for (int d = 0; d < axis; ++d) outer *= in.dim(d);
    for (int d = static_cast<int>(axis) + 1; d < in.rank(); ++d) inner *= in.dim(d);
    const int64_t channels = b_.size();
    const T* x = in.data();
    const T* b = b_.data();
    T* y = output->data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t c = 0; c < channels; ++c) {
        const T bias = b[c];
        const int64_t base = (o * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) y[base + i] = x[base + i] + bias;
      }
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    return inputs.empty() ? 0 : NumElements(inputs[0]);
  }
  int64_t NumParams() const override { return b_.size(); }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1) return l;
    l.kind = LoweredKind::kBiasAdd;
    l.axis = axis_ < 0 ? axis_ + static_cast<int64_t>(inputs[0].size()) : axis_;
    l.bias = &b_;
    return l;
  }

 private:
  int64_t axis_;  // As given; negative counts from the end, resolved against
                  // the input's rank.
  Tensor<T> b_;
};

}  // namespace

const std::vector<std::string>& ElemwiseOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<std::string>;
    for (const FnInfo& info : kFns) v->push_back(info.name);
    return v;
  }();
  return *ops;
}

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeElemwise(LayerSpec spec, std::vector<Tensor<T>> params) {
  const FnInfo* info = nullptr;
  for (const FnInfo& candidate : kFns) {
    if (spec.op == candidate.name) info = &candidate;
  }
  if (info == nullptr) {
    return LayerError(spec, absl::StrCat("\"", spec.op, "\" is not an element-wise op"));
  }
  AttrReader reader(spec);
  double alpha = 0;
  if (info->fn == Fn::kRelu) {
    ASSIGN_OR_RETURN(alpha, reader.Number("alpha", 0.0));
  } else if (info->fn == Fn::kElu) {
    ASSIGN_OR_RETURN(alpha, reader.Number("alpha", 1.0));
  }
  double clip_min = 0;
  double clip_max = 0;
  if (info->fn == Fn::kClip) {
    // T.clip(x, min, max): both bounds are required; Theano does not compare them.
    ASSIGN_OR_RETURN(clip_min, reader.Number("min", std::nullopt));
    ASSIGN_OR_RETURN(clip_max, reader.Number("max", std::nullopt));
  }
  RETURN_IF_ERROR(reader.Finish());
  if (!std::isfinite(alpha)) {
    return LayerError(spec, absl::StrCat("attribute alpha must be finite, got ", alpha));
  }
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new ElemwiseLayer<T>(std::move(spec), *info, static_cast<T>(alpha),
                                          static_cast<T>(clip_min), static_cast<T>(clip_max)));
}
template absl::StatusOr<LayerPtr<float>> MakeElemwise(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeElemwise(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBiasAdd(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  ASSIGN_OR_RETURN(int64_t axis, reader.Int("axis", 1));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"b"}));
  if (params[0].rank() != 1) {
    return LayerError(spec,
                      absl::StrCat("b must be 1-D, got shape ", ShapeToString(params[0].shape())));
  }
  return LayerPtr<T>(new BiasAddLayer<T>(std::move(spec), axis, std::move(params[0])));
}
template absl::StatusOr<LayerPtr<float>> MakeBiasAdd(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeBiasAdd(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
