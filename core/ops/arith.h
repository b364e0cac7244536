// Element-wise arithmetic with numpy broadcasting over graph inputs, parameters and constants:
// Theano's Elemwise{add, sub, mul, true_div, maximum, minimum, pow}. See
// docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_ARITH_H_
#define THEANO_SERVING_CORE_OPS_ARITH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// The op names MakeArith accepts, sorted: add, maximum, minimum, mul, pow, sub, true_div.
const std::vector<std::string>& ArithOps();

// op is one of ArithOps(). The operands are graph inputs, the layer's parameters (any shape that
// broadcasts against the inputs without stretching over the batch axis 0) and numbers. Attribute
// `operands` (optional) orders them: a list of "input:K", "param:K" and numbers (constants, cast to
// T) naming every input and every parameter exactly once; default: every graph input in order, then
// every parameter. sub, true_div and pow take exactly 2 operands, the others 2 or more; at least
// one operand is a graph input.
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeArith(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_ARITH_H_
