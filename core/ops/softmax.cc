#include "core/ops/softmax.h"

#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// Softmax and LogSoftmax follow the C code of theano/tensor/nnet/nnet.py
// (Theano 1.0.5), row by row: SoftmaxRow (softmax.h).
template <typename T>
class SoftmaxLayer : public Layer<T> {
 public:
  SoftmaxLayer(LayerSpec spec, bool log) : Layer<T>(std::move(spec)), log_(log) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    // Softmax.make_node accepts a matrix, or a vector which it pads to a (1, n)
    // matrix.
    if (in.size() == 1) return Shape{1, in[0]};
    if (in.size() == 2) return in;
    return LayerError(this->spec(), absl::StrCat("input must be 1-D or 2-D, got ",
                                                 ShapeToString(in), " of rank ", in.size()));
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const int64_t rows = output->dim(0);
    const int64_t cols = output->dim(1);
    if (cols == 0) return;
    const T* x = inputs[0]->data();
    T* y = output->data();
    for (int64_t i = 0; i < rows; ++i) SoftmaxRow(x + i * cols, cols, log_, y + i * cols);
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    // Max, subtract, exp (~10), add, scale per element.
    return inputs.empty() ? 0 : 14 * NumElements(inputs[0]);
  }

  // The fast engine runs the same formula as a step of its plan (core/fast/norm.cc).
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1 || inputs[0].size() != 2) return l;
    l.kind = LoweredKind::kSoftmax;
    l.log_softmax = log_;
    return l;
  }

 private:
  bool log_;
};

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSoftmaxLike(LayerSpec spec, std::vector<Tensor<T>> params,
                                            bool log) {
  AttrReader reader(spec);
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new SoftmaxLayer<T>(std::move(spec), log));
}

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSoftmax(LayerSpec spec, std::vector<Tensor<T>> params) {
  return MakeSoftmaxLike(std::move(spec), std::move(params), /*log=*/false);
}
template absl::StatusOr<LayerPtr<float>> MakeSoftmax(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeSoftmax(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLogSoftmax(LayerSpec spec, std::vector<Tensor<T>> params) {
  return MakeSoftmaxLike(std::move(spec), std::move(params), /*log=*/true);
}
template absl::StatusOr<LayerPtr<float>> MakeLogSoftmax(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeLogSoftmax(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
