#include "core/ops/conv2d.h"

#include "absl/status/status.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeConv2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConv2d(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2dLegacy(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeConv2dLegacy(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConv2dLegacy(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSignalConv2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeSignalConv2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeSignalConv2d(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
