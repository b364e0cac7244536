// Pooling: theano.tensor.signal.pool.pool_2d. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_POOL_H_
#define THEANO_SERVING_CORE_OPS_POOL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "pool_2d": attrs ws, stride, pad, ignore_border, mode; pools the last two axes.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakePool2d(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_POOL_H_
