// theano.tensor.nnet.bn.batch_normalization_test. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_BATCH_NORM_H_
#define THEANO_SERVING_CORE_OPS_BATCH_NORM_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "batch_normalization_test": attrs axes ("spatial" | "per-activation" | list), epsilon;
// params (gamma, beta, mean, var).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBatchNormalizationTest(LayerSpec spec,
                                                       std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_BATCH_NORM_H_
