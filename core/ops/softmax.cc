#include "core/ops/softmax.h"

#include "absl/status/status.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSoftmax(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeSoftmax(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeSoftmax(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLogSoftmax(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeLogSoftmax(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeLogSoftmax(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
