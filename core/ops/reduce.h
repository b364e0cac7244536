// Reductions over non-batch axes: T.sum, T.mean, T.max, T.min. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_REDUCE_H_
#define THEANO_SERVING_CORE_OPS_REDUCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// The op names MakeReduce accepts, sorted: max, mean, min, sum.
const std::vector<std::string>& ReduceOps();

// op is one of ReduceOps(); attrs axis (required: an int or a list of ints, negative counting from
// the end; never the batch axis 0) and keepdims (false); no parameters.
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeReduce(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_REDUCE_H_
