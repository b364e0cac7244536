// Graph joins for inception-style blocks (residual sums are `add`, core/ops/arith.h). See
// docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_JOIN_H_
#define THEANO_SERVING_CORE_OPS_JOIN_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "concatenate": joins two or more inputs along attr axis (default 1).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConcatenate(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_JOIN_H_
