// Lasagne's normalization layers at inference: LocalResponseNormalization2DLayer and BatchNormLayer
// (which stores 1 / sqrt(var + epsilon) as inv_std). See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_NORMALIZATION_H_
#define THEANO_SERVING_CORE_OPS_NORMALIZATION_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "local_response_normalization": attrs alpha (1e-4), k (2), beta (0.75), n (5, odd); no
// parameters; input (N, C, H, W).
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLocalResponseNormalization(LayerSpec spec,
                                                           std::vector<Tensor<T>> params);

// "batch_norm_inv_std": (x - mean) * gamma * inv_std + beta; params (gamma, beta, mean, inv_std),
// attr axes (the normalized axes: a list of ints, an int, or "auto" = "spatial" = every axis but 1
// (the default), "per-activation" = (0,)); axis 0 must be one of them.
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBatchNormInvStd(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_NORMALIZATION_H_
