// Element-wise ops with Theano's C-path behaviour: the activations of theano.tensor.nnet 1.0.5,
// tanh, exp, abs, the unary scalar ops neg, sqr, sqrt, log, inv and clip, and the per-channel bias
// add. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_ELEMWISE_H_
#define THEANO_SERVING_CORE_OPS_ELEMWISE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// The op names MakeElemwise accepts.
const std::vector<std::string>& ElemwiseOps();

// op is one of ElemwiseOps(): "tanh", "sigmoid", "ultra_fast_sigmoid", "hard_sigmoid",
// "softplus", "softsign", "relu" (attr alpha), "elu" (attr alpha), "selu", "exp", "abs", "neg",
// "sqr", "sqrt", "log", "inv", "clip" (attrs min and max, both required).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeElemwise(LayerSpec spec, std::vector<Tensor<T>> params);

// "bias_add": x + b.dimshuffle('x', 0, 'x', 'x') (attr axis, default 1); params (b).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBiasAdd(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_ELEMWISE_H_
