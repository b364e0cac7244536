// theano.tensor.nnet.softmax and logsoftmax. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_SOFTMAX_H_
#define THEANO_SERVING_CORE_OPS_SOFTMAX_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "softmax" over the last axis of a 2-D input (a 1-D input gives shape (1, n)).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSoftmax(LayerSpec spec, std::vector<Tensor<T>> params);

// "log_softmax", same shapes as softmax.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLogSoftmax(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_SOFTMAX_H_
