#include "core/ops/arith.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/ops/theano_scalar.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// No practical limit on the number of graph inputs; > 1000 makes ExpectInputCount say "at least".
constexpr int kManyInputs = 1 << 20;

enum class Op { kAdd, kSub, kMul, kTrueDiv, kMaximum, kMinimum, kPow };

struct OpInfo {
  const char* name;
  Op op;
  bool variadic;  // 2 or more operands, folded left to right; otherwise exactly 2.
};

constexpr OpInfo kOps[] = {
    {"add", Op::kAdd, true},           {"maximum", Op::kMaximum, true},
    {"minimum", Op::kMinimum, true},   {"mul", Op::kMul, true},
    {"pow", Op::kPow, false},          {"sub", Op::kSub, false},
    {"true_div", Op::kTrueDiv, false},
};

// Calls fn with the scalar function of `op` in T, as Theano's C code writes it.
template <typename T, typename Fn>
void WithScalarOp(Op op, Fn&& fn) {
  switch (op) {
    case Op::kAdd:
      fn([](T a, T b) { return a + b; });
      break;
    case Op::kSub:
      fn([](T a, T b) { return a - b; });
      break;
    case Op::kMul:
      fn([](T a, T b) { return a * b; });
      break;
    case Op::kTrueDiv:
      fn([](T a, T b) { return a / b; });
      break;
    case Op::kMaximum:
      fn([](T a, T b) { return theano_scalar::Maximum(a, b); });
      break;
    case Op::kMinimum:
      fn([](T a, T b) { return theano_scalar::Minimum(a, b); });
      break;
    case Op::kPow:
      fn([](T a, T b) { return static_cast<T>(std::pow(a, b)); });
      break;
  }
}

// One operand's shape for BroadcastShapes, and how error messages name it ("input 0").
struct BroadcastOperand {
  std::string name;
  const Shape* shape;
};

// numpy's broadcasting: shapes aligned on their last axis, a size-1 axis stretching to the others'
// size (also to 0). InvalidArgument naming two operands that disagree.
absl::StatusOr<Shape> BroadcastShapes(const std::vector<BroadcastOperand>& operands) {
  size_t rank = 0;
  for (const BroadcastOperand& o : operands) rank = std::max(rank, o.shape->size());
  Shape out(rank, 1);
  std::vector<int> owner(rank, -1);  // The operand that set out[d] to a size other than 1.
  for (size_t k = 0; k < operands.size(); ++k) {
    const Shape& s = *operands[k].shape;
    for (size_t j = 0; j < s.size(); ++j) {
      const size_t d = rank - s.size() + j;
      if (s[j] == 1 || s[j] == out[d]) continue;
      if (owner[d] < 0) {
        out[d] = s[j];
        owner[d] = static_cast<int>(k);
        continue;
      }
      const BroadcastOperand& other = operands[static_cast<size_t>(owner[d])];
      return absl::InvalidArgumentError(
          absl::StrCat("operands do not broadcast: ", other.name, " ", ShapeToString(*other.shape),
                       " and ", operands[k].name, " ", ShapeToString(s), " differ on axis ", d,
                       " of the output (", out[d], " vs ", s[j], ")"));
    }
  }
  return out;
}

// Element strides, in an output of shape `out`, of a C-order array of shape `s` broadcast to it
// (right-aligned; 0 along stretched axes).
std::vector<int64_t> BroadcastStrides(const Shape& s, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t j = s.size(); j-- > 0;) {
    const size_t d = out.size() - s.size() + j;
    strides[d] = s[j] == 1 ? 0 : stride;
    stride *= s[j];
  }
  return strides;
}

std::vector<int64_t> ContiguousStrides(const Shape& out) { return BroadcastStrides(out, out); }

// For every element of an output of shape `out` in C order: f(output index, a index, b index),
// with a and b broadcast by their strides `sa`, `sb` (BroadcastStrides).
template <typename F>
void BroadcastLoop(const Shape& out, const std::vector<int64_t>& sa, const std::vector<int64_t>& sb,
                   F f) {
  const int64_t total = NumElements(out);
  if (total == 0) return;
  if (out.empty()) {
    f(0, 0, 0);
    return;
  }
  const size_t rank = out.size();
  const int64_t inner = out[rank - 1];
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t y = 0; y < total; y += inner) {
    for (int64_t j = 0; j < inner; ++j) f(y + j, oa + j * ia, ob + j * ib);
    for (size_t d = rank - 1; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++index[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      index[d] = 0;
    }
  }
}

// y = f(a, b) element-wise, a and b broadcast to `out`; y may be a (in place).
template <typename T, typename F>
void BroadcastBinary(const Shape& out, const T* a, const std::vector<int64_t>& sa, const T* b,
                     const std::vector<int64_t>& sb, T* y, F f) {
  BroadcastLoop(out, sa, sb, [&](int64_t i, int64_t ja, int64_t jb) { y[i] = f(a[ja], b[jb]); });
}

// y = f(a) element-wise, a broadcast to `out`.
template <typename T, typename F>
void BroadcastUnary(const Shape& out, const T* a, const std::vector<int64_t>& sa, T* y, F f) {
  BroadcastLoop(out, sa, sa, [&](int64_t i, int64_t ja, int64_t) { y[i] = f(a[ja]); });
}

// One operand as model.json orders it.
template <typename T>
struct Operand {
  enum class Kind { kInput, kParam, kConstant };
  Kind kind = Kind::kInput;
  int index = 0;  // kInput: which graph input; kParam: which parameter.
  T value = 0;    // kConstant, already in T.
};

// How Run evaluates the operands once Theano's optimizer has rewritten the graph
// (theano/tensor/opt.py): see MakeArith.
enum class Plan {
  kFold,         // terms_ folded left to right with fold_op_.
  kCopy,         // terms_[0] (broadcast): add(x, 0), mul(x, 1), true_div(x, 1).
  kZero,         // 0 everywhere: mul(x, 0) (local_mul_specialize).
  kNeg,          // -terms_[0]: sub(0, x) (the add canonizer's neg).
  kConstantPow,  // pow(terms_[0], constant) as theano_scalar::ConstantPow.
};

template <typename T>
class ArithLayer : public Layer<T> {
 public:
  // `operands` empty = the default order (every input, then every parameter; no constants).
  ArithLayer(LayerSpec spec, const OpInfo& info, std::vector<Operand<T>> operands,
             std::vector<Tensor<T>> params, int min_inputs, int max_inputs, Plan plan, Op fold_op,
             std::vector<Operand<T>> terms, T exponent)
      : Layer<T>(std::move(spec)),
        info_(info),
        operands_(std::move(operands)),
        params_(std::move(params)),
        min_inputs_(min_inputs),
        max_inputs_(max_inputs),
        plan_(plan),
        fold_op_(fold_op),
        terms_(std::move(terms)),
        pow_(exponent) {}

  int min_inputs() const override { return min_inputs_; }
  int max_inputs() const override { return max_inputs_; }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(ExpectInputCount(this->spec(), inputs.size(), min_inputs_, max_inputs_));
    // Every graph input has the output's rank (its axis 0 is the batch axis); a parameter has at
    // most that many axes and, with that many, size 1 on axis 0.
    const size_t rank = inputs[0].size();
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i].size() != rank) {
        return LayerError(
            this->spec(),
            absl::StrCat("input ", i, " ", ShapeToString(inputs[i]), " has rank ", inputs[i].size(),
                         " but input 0 ", ShapeToString(inputs[0]), " has rank ", rank,
                         "; graph inputs must have the same rank (axis 0 is the "
                         "batch axis of each)"));
      }
    }
    for (size_t k = 0; k < params_.size(); ++k) {
      const Shape& p = params_[k].shape();
      if (p.size() > rank) {
        return LayerError(
            this->spec(),
            absl::StrCat(ParamName(k), " ", ShapeToString(p), " has rank ", p.size(),
                         ", more than the input's ", rank, " (input ", ShapeToString(inputs[0]),
                         "); it would broadcast the batch axis"));
      }
      if (p.size() == rank && rank > 0 && p[0] != 1) {
        return LayerError(
            this->spec(),
            absl::StrCat(ParamName(k), " ", ShapeToString(p), " has size ", p[0],
                         " on axis 0, the batch axis of input ", ShapeToString(inputs[0]),
                         "; a parameter must have size 1 there or fewer axes"));
      }
    }
    std::vector<BroadcastOperand> shapes;
    for (size_t i = 0; i < inputs.size(); ++i) {
      shapes.push_back({absl::StrCat("input ", i), &inputs[i]});
    }
    for (size_t k = 0; k < params_.size(); ++k) {
      shapes.push_back({ParamName(k), &params_[k].shape()});
    }
    absl::StatusOr<Shape> out = BroadcastShapes(shapes);
    if (!out.ok()) return LayerError(this->spec(), out.status().message());
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Shape& out = output->shape();
    T* y = output->data();
    std::vector<Operand<T>> default_terms;
    const std::vector<Operand<T>>* terms = &terms_;
    if (operands_.empty()) {
      default_terms = DefaultOperands(static_cast<int>(inputs.size()));
      terms = &default_terms;
    }
    auto data = [&](const Operand<T>& t) -> const T* {
      switch (t.kind) {
        case Operand<T>::Kind::kInput:
          return inputs[static_cast<size_t>(t.index)]->data();
        case Operand<T>::Kind::kParam:
          return params_[static_cast<size_t>(t.index)].data();
        case Operand<T>::Kind::kConstant:
          break;
      }
      return &t.value;
    };
    auto strides = [&](const Operand<T>& t) {
      switch (t.kind) {
        case Operand<T>::Kind::kInput:
          return BroadcastStrides(inputs[static_cast<size_t>(t.index)]->shape(), out);
        case Operand<T>::Kind::kParam:
          return BroadcastStrides(params_[static_cast<size_t>(t.index)].shape(), out);
        case Operand<T>::Kind::kConstant:
          break;
      }
      return std::vector<int64_t>(out.size(), 0);
    };
    const Operand<T>& first = (*terms)[0];
    const T* x0 = data(first);
    const std::vector<int64_t> s0 = strides(first);
    switch (plan_) {
      case Plan::kZero:
        std::fill(y, y + output->size(), T(0));
        return;
      case Plan::kCopy:
        BroadcastUnary(out, x0, s0, y, [](T a) { return a; });
        return;
      case Plan::kNeg:
        BroadcastUnary(out, x0, s0, y, [](T a) { return -a; });
        return;
      case Plan::kConstantPow:
        BroadcastUnary(out, x0, s0, y, [this](T a) { return pow_(a); });
        return;
      case Plan::kFold:
        break;
    }
    const std::vector<int64_t> contiguous = ContiguousStrides(out);
    WithScalarOp<T>(fold_op_, [&](auto f) {
      const Operand<T>& second = (*terms)[1];
      BroadcastBinary(out, x0, s0, data(second), strides(second), y, f);
      for (size_t k = 2; k < terms->size(); ++k) {
        const Operand<T>& t = (*terms)[k];
        BroadcastBinary(out, static_cast<const T*>(y), contiguous, data(t), strides(t), y, f);
      }
    });
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    absl::StatusOr<Shape> out = OutputShape(inputs);
    if (!out.ok()) return 0;
    const size_t terms = operands_.empty() ? inputs.size() + params_.size() : terms_.size();
    return NumElements(*out) * static_cast<int64_t>(std::max<size_t>(terms, 2) - 1);
  }

  int64_t NumParams() const override {
    int64_t n = 0;
    for (const Tensor<T>& p : params_) n += p.size();
    return n;
  }

  // The fast engine's summing kernel for add of same-shaped graph inputs (in their order), without
  // parameters or constants, and its per-channel scale for mul of one input by one parameter of C
  // values along axis 1 (Lasagne's ScaleLayer: (C, 1, 1)); everything else runs as a reference
  // step.
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    const std::vector<Operand<T>> terms =
        operands_.empty() ? DefaultOperands(static_cast<int>(inputs.size())) : terms_;
    // x + p or x * p of the one input and the one parameter, in either order (they round the
    // same), p no larger than one item of x.
    const bool input_and_param =
        (info_.op == Op::kMul || info_.op == Op::kAdd) && plan_ == Plan::kFold &&
        fold_op_ == info_.op && inputs.size() == 1 && params_.size() == 1 && terms.size() == 2 &&
        terms[0].kind != terms[1].kind && terms[0].kind != Operand<T>::Kind::kConstant &&
        terms[1].kind != Operand<T>::Kind::kConstant &&
        BroadcastsInto(params_[0].shape(), inputs[0]);
    if (input_and_param) {
      const bool multiply = info_.op == Op::kMul;
      if (PerChannel(params_[0].shape(), inputs[0])) {  // ScaleLayer, or a bias.
        l.kind = multiply ? LoweredKind::kScale : LoweredKind::kBiasAdd;
        l.axis = 1;
        (multiply ? l.scale : l.bias) = &params_[0];
        return l;
      }
      // BiasLayer's untied biases and any other item-sized parameter.
      l.kind = LoweredKind::kParamArith;
      l.scale = &params_[0];
      l.multiply = multiply;
      l.broadcast_param = [this](const Shape& item, T* y) {
        BroadcastUnary(item, params_[0].data(), BroadcastStrides(params_[0].shape(), item), y,
                       [](T a) { return a; });
      };
      return l;
    }
    if (inputs.size() == 1 && params_.empty()) {
      // One input and scalar constants: element-wise, in whatever layout the value has.
      l.kind = LoweredKind::kElementwise;
      l.apply = [this](const T* x, T* y, int64_t n) { ApplyElementwise(x, y, n); };
      return l;
    }
    if (info_.op != Op::kAdd || !params_.empty() || plan_ != Plan::kFold || inputs.size() < 2) {
      return l;
    }
    for (size_t k = 0; k < terms_.size(); ++k) {
      if (terms_[k].kind != Operand<T>::Kind::kInput || terms_[k].index != static_cast<int>(k)) {
        return l;
      }
    }
    for (const Shape& s : inputs) {
      if (s != inputs[0]) return l;
    }
    l.kind = LoweredKind::kAdd;
    return l;
  }

 private:
  // Run's arithmetic for one graph input and scalar constants (no parameters), over n elements
  // (x == y allowed): per element, the terms folded in Run's order.
  void ApplyElementwise(const T* x, T* y, int64_t n) const {
    if (operands_.empty()) {  // The default operands of one input and no parameters: x itself.
      std::copy(x, x + n, y);
      return;
    }
    const std::vector<Operand<T>>& terms = terms_;
    auto at = [x](const Operand<T>& t, int64_t i) {
      return t.kind == Operand<T>::Kind::kInput ? x[i] : t.value;
    };
    switch (plan_) {
      case Plan::kZero:
        std::fill(y, y + n, T(0));
        return;
      case Plan::kCopy:
        for (int64_t i = 0; i < n; ++i) y[i] = at(terms[0], i);
        return;
      case Plan::kNeg:
        for (int64_t i = 0; i < n; ++i) y[i] = -at(terms[0], i);
        return;
      case Plan::kConstantPow:
        for (int64_t i = 0; i < n; ++i) y[i] = pow_(at(terms[0], i));
        return;
      case Plan::kFold:
        break;
    }
    WithScalarOp<T>(fold_op_, [&](auto f) {
      for (int64_t i = 0; i < n; ++i) {
        T acc = at(terms[0], i);
        for (size_t k = 1; k < terms.size(); ++k) acc = f(acc, at(terms[k], i));
        y[i] = acc;
      }
    });
  }

  // Whether p, aligned to the right of x, broadcasts into one item of x (no axis of p larger than
  // x's, none on the batch axis).
  static bool BroadcastsInto(const Shape& p, const Shape& x) {
    if (x.empty() || p.size() > x.size()) return false;
    const size_t offset = x.size() - p.size();
    for (size_t j = 0; j < p.size(); ++j) {
      const size_t d = j + offset;
      if (p[j] != 1 && (d == 0 || p[j] != x[d])) return false;
    }
    return true;
  }

  // Whether p, aligned to the right of x (numpy broadcasting), has x's size on axis 1 and 1 on
  // every other axis (so its elements are the C per-channel values in order).
  static bool PerChannel(const Shape& p, const Shape& x) {
    if (x.size() < 2 || p.size() + 1 < x.size() || p.size() > x.size()) return false;
    const size_t offset = x.size() - p.size();
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] != (j + offset == 1 ? x[1] : 1)) return false;
    }
    return true;
  }

  std::string ParamName(size_t k) const {
    if (k < this->spec().params.size()) {
      return absl::StrCat("param ", k, " \"", this->spec().params[k], "\"");
    }
    return absl::StrCat("param ", k);
  }

  std::vector<Operand<T>> DefaultOperands(int num_inputs) const {
    std::vector<Operand<T>> out;
    for (int i = 0; i < num_inputs; ++i) out.push_back({Operand<T>::Kind::kInput, i, T(0)});
    for (size_t k = 0; k < params_.size(); ++k) {
      out.push_back({Operand<T>::Kind::kParam, static_cast<int>(k), T(0)});
    }
    return out;
  }

  OpInfo info_;
  std::vector<Operand<T>> operands_;  // As given; empty = the default order.
  std::vector<Tensor<T>> params_;
  int min_inputs_;
  int max_inputs_;
  Plan plan_;
  Op fold_op_;
  std::vector<Operand<T>> terms_;  // What Run evaluates (explicit operands only).
  theano_scalar::ConstantPow<T> pow_;
};

// Parses "input:K" / "param:K" into K; -1 if `s` is not of that form.
int64_t OperandIndex(const std::string& s, absl::string_view prefix) {
  if (!absl::StartsWith(s, prefix) || s.size() == prefix.size() || s.size() > prefix.size() + 9) {
    return -1;
  }
  int64_t k = 0;
  for (size_t i = prefix.size(); i < s.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return -1;
    k = k * 10 + (s[i] - '0');
  }
  return k;
}

}  // namespace

const std::vector<std::string>& ArithOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<std::string>;
    for (const OpInfo& info : kOps) v->push_back(info.name);
    return v;
  }();
  return *ops;
}

// Theano's optimizer rewrites the graph before its C code runs (theano/tensor/opt.py), and for
// constants that changes the arithmetic; the plan reproduces it:
//  * add, mul (Canonizer.simplify_constants): the constants are combined in T (0 + c1 + c2 ...,
//    1 * c1 * c2 ...) into one constant placed first, dropped if it is the neutral element; a mul
//    by the constant 0 is 0 (local_mul_specialize);
//  * true_div(x, c) becomes mul(1 / c, x) with 1 / c in T (mul_calculate), so x / 3 is
//    x * 0.33333334f in float32;
//  * sub(0, x) becomes neg(x);
//  * pow(x, c) as theano_scalar::ConstantPow.
// sub(x, c) (= add(-c, x), the same value), true_div(c, x), pow(c, x), maximum and minimum are
// evaluated as written.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeArith(LayerSpec spec, std::vector<Tensor<T>> params) {
  const OpInfo* info = nullptr;
  for (const OpInfo& candidate : kOps) {
    if (spec.op == candidate.name) info = &candidate;
  }
  if (info == nullptr) {
    return LayerError(spec, absl::StrCat("\"", spec.op, "\" is not an arithmetic op"));
  }
  AttrReader reader(spec);
  const nlohmann::json* operands_attr = reader.Raw("operands");
  RETURN_IF_ERROR(reader.Finish());
  const int num_params = static_cast<int>(params.size());
  const std::string arity = info->variadic ? "2 or more operands" : "exactly 2 operands";

  using Kind = typename Operand<T>::Kind;
  std::vector<Operand<T>> operands;
  int min_inputs = 0;
  int max_inputs = 0;
  if (operands_attr == nullptr) {
    // Every graph input, then every parameter.
    if (info->variadic) {
      min_inputs = std::max(1, 2 - num_params);
      max_inputs = kManyInputs;
    } else {
      if (num_params >= 2) {
        return reader.Error(absl::StrCat(spec.op,
                                         " takes exactly 2 operands, one of them a graph "
                                         "input; got ",
                                         num_params, " parameters"));
      }
      min_inputs = max_inputs = 2 - num_params;
    }
  } else {
    if (!operands_attr->is_array()) {
      return reader.Error(
          absl::StrCat("attribute operands must be a list of \"input:K\", "
                       "\"param:K\" and numbers, got ",
                       operands_attr->dump()));
    }
    std::vector<int> input_uses;
    std::vector<int> param_uses(params.size(), 0);
    for (size_t e = 0; e < operands_attr->size(); ++e) {
      const nlohmann::json& entry = (*operands_attr)[e];
      Operand<T> op;
      if (entry.is_number()) {
        op.kind = Kind::kConstant;
        op.value = static_cast<T>(entry.get<double>());
      } else if (entry.is_string() && OperandIndex(entry.get<std::string>(), "input:") >= 0) {
        op.kind = Kind::kInput;
        const int64_t k = OperandIndex(entry.get<std::string>(), "input:");
        if (k >= static_cast<int64_t>(operands_attr->size())) {
          // Inputs are numbered 0..n-1 and each is named once, so K < the number of entries.
          return reader.Error(absl::StrCat("attribute operands names input ", k, " but has only ",
                                           operands_attr->size(),
                                           " entries: ", operands_attr->dump()));
        }
        op.index = static_cast<int>(k);
        if (input_uses.size() <= static_cast<size_t>(k)) input_uses.resize(k + 1, 0);
        if (++input_uses[static_cast<size_t>(k)] > 1) {
          return reader.Error(absl::StrCat("attribute operands names input ", k,
                                           " twice: ", operands_attr->dump()));
        }
      } else if (entry.is_string() && OperandIndex(entry.get<std::string>(), "param:") >= 0) {
        op.kind = Kind::kParam;
        const int64_t k = OperandIndex(entry.get<std::string>(), "param:");
        op.index = static_cast<int>(k);
        if (k >= num_params) {
          return reader.Error(absl::StrCat("attribute operands names param ", k,
                                           " but the layer has ", num_params,
                                           " parameters: ", operands_attr->dump()));
        }
        if (++param_uses[static_cast<size_t>(k)] > 1) {
          return reader.Error(absl::StrCat("attribute operands names param ", k,
                                           " twice: ", operands_attr->dump()));
        }
      } else {
        return reader.Error(absl::StrCat("attribute operands entry ", e,
                                         " must be \"input:K\", \"param:K\" or a number, got ",
                                         entry.dump()));
      }
      operands.push_back(op);
    }
    for (size_t k = 0; k < input_uses.size(); ++k) {
      if (input_uses[k] == 0) {
        return reader.Error(absl::StrCat("attribute operands names input ", input_uses.size() - 1,
                                         " but not input ", k, ": ", operands_attr->dump()));
      }
    }
    for (size_t k = 0; k < param_uses.size(); ++k) {
      if (param_uses[k] == 0) {
        return reader.Error(absl::StrCat(
            "attribute operands does not use param ", k,
            k < spec.params.size() ? absl::StrCat(" (\"", spec.params[k], "\")") : std::string(),
            ": ", operands_attr->dump()));
      }
    }
    if (input_uses.empty()) {
      return reader.Error(
          absl::StrCat("attribute operands must include a graph input (\"input:0\"), "
                       "got ",
                       operands_attr->dump()));
    }
    const size_t n = operands.size();
    if (n < 2 || (!info->variadic && n != 2)) {
      return reader.Error(
          absl::StrCat(spec.op, " takes ", arity, ", got ", n, ": ", operands_attr->dump()));
    }
    min_inputs = max_inputs = static_cast<int>(input_uses.size());
  }

  // Theano's rewrites of constants (see above).
  Plan plan = Plan::kFold;
  Op fold_op = info->op;
  std::vector<Operand<T>> terms;
  T exponent = T(1);
  bool has_constant = false;
  for (const Operand<T>& o : operands) has_constant = has_constant || o.kind == Kind::kConstant;
  if (!has_constant) {
    terms.insert(terms.end(), operands.begin(), operands.end());
  } else if (info->op == Op::kAdd || info->op == Op::kMul) {
    const bool add = info->op == Op::kAdd;
    T c = add ? T(0) : T(1);
    for (const Operand<T>& o : operands) {
      if (o.kind == Kind::kConstant) {
        c = add ? c + o.value : c * o.value;
      } else {
        terms.push_back(o);
      }
    }
    if (!add && c == T(0)) {
      plan = Plan::kZero;
    } else if (c != (add ? T(0) : T(1))) {
      terms.insert(terms.begin(), Operand<T>{Kind::kConstant, 0, c});
    }
    if (plan == Plan::kFold && terms.size() == 1) plan = Plan::kCopy;
  } else if (info->op == Op::kTrueDiv && operands[1].kind == Kind::kConstant) {
    const T reciprocal = T(1) / operands[1].value;
    if (reciprocal == T(1)) {
      plan = Plan::kCopy;
      terms.push_back(operands[0]);
    } else {
      fold_op = Op::kMul;
      terms.push_back(Operand<T>{Kind::kConstant, 0, reciprocal});
      terms.push_back(operands[0]);
    }
  } else if (info->op == Op::kSub && operands[0].kind == Kind::kConstant &&
             operands[0].value == T(0)) {
    plan = Plan::kNeg;
    terms.push_back(operands[1]);
  } else if (info->op == Op::kPow && operands[1].kind == Kind::kConstant) {
    plan = Plan::kConstantPow;
    exponent = operands[1].value;
    terms.push_back(operands[0]);
  } else {
    terms.insert(terms.end(), operands.begin(), operands.end());
  }
  return LayerPtr<T>(new ArithLayer<T>(std::move(spec), *info, std::move(operands),
                                       std::move(params), min_inputs, max_inputs, plan, fold_op,
                                       std::move(terms), exponent));
}
template absl::StatusOr<LayerPtr<float>> MakeArith(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeArith(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
