// Dense (T.dot(x, W) + b) and flatten. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_DENSE_H_
#define THEANO_SERVING_CORE_OPS_DENSE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "dense": dot(x, W) + b with W of shape (n_in, n_out); params (W, b), or (W) alone for dot(x, W).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeDense(LayerSpec spec, std::vector<Tensor<T>> params);

// "flatten": attr ndim (default 1 as in Theano), order "C".
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeFlatten(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_DENSE_H_
