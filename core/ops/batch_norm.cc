#include "core/ops/batch_norm.h"

#include "absl/status/status.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBatchNormalizationTest(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeBatchNormalizationTest(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeBatchNormalizationTest(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
