#include "core/ops/elemwise.h"

#include "absl/status/status.h"

namespace theano_serving {

const std::vector<std::string>& ElemwiseOps() {
  static const auto* ops = new std::vector<std::string>{};
  return *ops;
}

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeElemwise(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeElemwise(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeElemwise(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBiasAdd(LayerSpec spec, std::vector<Tensor<T>> params) {
  (void)params;
  return absl::UnimplementedError(spec.Describe() + ": not implemented yet");
}
template absl::StatusOr<LayerPtr<float>> MakeBiasAdd(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeBiasAdd(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
