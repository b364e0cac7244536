#include "core/ops/dense.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// T.dot(x, W) + b (b may be null: Lasagne's DenseLayer with b=None is T.dot(x, W)). Theano runs the
// product as Dot22 (BLAS gemm) and then adds b in T. For the golden set's sizes OpenBLAS's kernel
// accumulates each output in T with one FMA per term in increasing k; doing the same reproduces
// every dense golden case bit for bit (a double accumulator is off by up to 4.8e-7). For long rows
// (k beyond OpenBLAS's K-block, a few hundred) BLAS adds per-block partial sums instead, so large
// layers agree only to rounding.
template <typename T>
inline void DenseRowsImpl(int64_t rows, int64_t n_in, int64_t n_out, const T* __restrict x,
                          const T* __restrict w, const T* __restrict b, T* __restrict y) {
  for (int64_t i = 0; i < rows; ++i) {
    T* __restrict y_i = y + i * n_out;
    std::fill(y_i, y_i + n_out, T(0));
    // i-k-j order walks W row by row (contiguous) and keeps each output's terms in k order.
    for (int64_t k = 0; k < n_in; ++k) {
      const T x_ik = x[i * n_in + k];
      const T* __restrict w_k = w + k * n_out;
      for (int64_t j = 0; j < n_out; ++j) y_i[j] = std::fma(x_ik, w_k[j], y_i[j]);
    }
    if (b != nullptr) {
      for (int64_t j = 0; j < n_out; ++j) y_i[j] += b[j];
    }
  }
}
// std::fma is exactly rounded on every CPU; the AVX2+FMA copy (used where the CPU has it) makes
// it one instruction, vectorised, instead of a libm call per multiply-add.
__attribute__((target("avx2,fma"))) void DenseRowsAvx2(int64_t rows, int64_t n_in, int64_t n_out,
                                                       const float* x, const float* w,
                                                       const float* b, float* y) {
  DenseRowsImpl(rows, n_in, n_out, x, w, b, y);
}
__attribute__((target("avx2,fma"))) void DenseRowsAvx2(int64_t rows, int64_t n_in, int64_t n_out,
                                                       const double* x, const double* w,
                                                       const double* b, double* y) {
  DenseRowsImpl(rows, n_in, n_out, x, w, b, y);
}
template <typename T>
void DenseRows(int64_t rows, int64_t n_in, int64_t n_out, const T* x, const T* w, const T* b,
               T* y) {
  if (HasAvx2Fma()) {
    DenseRowsAvx2(rows, n_in, n_out, x, w, b, y);
  } else {
    DenseRowsImpl(rows, n_in, n_out, x, w, b, y);
  }
}

template <typename T>
class DenseLayer : public Layer<T> {
 public:
  // `b` empty (rank 0, no elements) = no bias.
  DenseLayer(LayerSpec spec, Tensor<T> w, Tensor<T> b)
      : Layer<T>(std::move(spec)), w_(std::move(w)), b_(std::move(b)), has_bias_(b_.rank() == 1) {
    // The fast engine's dense kernel always adds a bias: zeros for T.dot(x, W), the same values (a
    // sum that starts from +0 is never -0, so adding +0 changes nothing).
    if (!has_bias_) b_ = Tensor<T>(Shape{w_.dim(1)});
  }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    if (in.size() != 2) {
      return LayerError(this->spec(),
                        absl::StrCat("input must be 2-D (batch, n_in), got ", ShapeToString(in),
                                     "; add a flatten layer before it"));
    }
    if (in[1] != w_.dim(0)) {
      return LayerError(
          this->spec(),
          absl::StrCat("shape mismatch: input ", ShapeToString(in), " has ", in[1],
                       " columns but W ", ShapeToString(w_.shape()), " has ", w_.dim(0), " rows"));
    }
    return Shape{in[0], w_.dim(1)};
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const int64_t rows = in.dim(0);
    const int64_t n_in = w_.dim(0);
    const int64_t n_out = w_.dim(1);
    DenseRows(rows, n_in, n_out, in.data(), w_.data(), has_bias_ ? b_.data() : nullptr,
              output->data());
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    if (inputs.empty() || inputs[0].empty()) return 0;
    return inputs[0][0] * (2 * w_.dim(0) + (has_bias_ ? 1 : 0)) * w_.dim(1);
  }
  int64_t NumParams() const override { return w_.size() + (has_bias_ ? b_.size() : 0); }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    l.kind = LoweredKind::kDense;
    l.weights = &w_;
    l.bias = &b_;
    return l;
  }

 private:
  Tensor<T> w_;  // (n_in, n_out)
  Tensor<T> b_;  // (n_out): the bias, or zeros for the fast engine if there is none.
  bool has_bias_;
};

// T.flatten(x, ndim): keeps the first ndim - 1 axes and merges the rest (C
// order), a pure reshape.
template <typename T>
class FlattenLayer : public Layer<T> {
 public:
  FlattenLayer(LayerSpec spec, int64_t ndim) : Layer<T>(std::move(spec)), ndim_(ndim) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    const int64_t rank = static_cast<int64_t>(in.size());
    // Theano allows ndim = 1 for any input (a scalar becomes (1,)), otherwise 1
    // <= ndim <= rank.
    if (ndim_ > 1 && ndim_ > rank) {
      return LayerError(this->spec(), absl::StrCat("ndim ", ndim_, " is larger than the rank ",
                                                   rank, " of input ", ShapeToString(in)));
    }
    Shape out(in.begin(), in.begin() + (ndim_ - 1));
    int64_t rest = 1;
    for (int64_t d = ndim_ - 1; d < rank; ++d) rest *= in[static_cast<size_t>(d)];
    out.push_back(rest);
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    std::copy(in.data(), in.data() + in.size(), output->data());
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    l.kind = LoweredKind::kFlatten;
    l.flatten_ndim = ndim_;
    return l;
  }

 private:
  int64_t ndim_;
};

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeDense(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  RETURN_IF_ERROR(reader.Finish());
  if (params.size() != 1 && params.size() != 2) {
    return LayerError(
        spec, absl::StrCat("expects 1 or 2 parameters (W, or W and b), got ", params.size()));
  }
  const Tensor<T>& w = params[0];
  if (w.rank() != 2) {
    return LayerError(spec,
                      absl::StrCat("W must be 2-D (n_in, n_out), got ", ShapeToString(w.shape())));
  }
  Tensor<T> b;  // None: T.dot(x, W) (Lasagne's b=None).
  if (params.size() == 2) {
    b = std::move(params[1]);
    if (b.rank() != 1 || b.dim(0) != w.dim(1)) {
      return LayerError(spec,
                        absl::StrCat("b must have shape (", w.dim(1), ",) to match W ",
                                     ShapeToString(w.shape()), ", got ", ShapeToString(b.shape())));
    }
  }
  return LayerPtr<T>(new DenseLayer<T>(std::move(spec), std::move(params[0]), std::move(b)));
}
template absl::StatusOr<LayerPtr<float>> MakeDense(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeDense(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeFlatten(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  ASSIGN_OR_RETURN(int64_t ndim, reader.Int("ndim", 1));
  ASSIGN_OR_RETURN(std::string order, reader.String("order", "C"));
  RETURN_IF_ERROR(reader.Finish());
  if (ndim < 1) {
    return reader.Error(absl::StrCat("attribute ndim must be at least 1, got ", ndim));
  }
  if (order != "C") {
    return reader.Error(absl::StrCat(
        "attribute order must be \"C\" (the only order supported), got \"", order, "\""));
  }
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new FlattenLayer<T>(std::move(spec), ndim));
}
template absl::StatusOr<LayerPtr<float>> MakeFlatten(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeFlatten(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
