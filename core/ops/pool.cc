#include "core/ops/pool.h"

#include "absl/status/status.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<LayerPtr<T>> MakePool2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakePool2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakePool2d(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
