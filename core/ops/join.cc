#include "core/ops/join.h"

#include "absl/status/status.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeAdd(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeAdd(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeAdd(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConcatenate(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeConcatenate(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConcatenate(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
