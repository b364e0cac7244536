// Ops that move, pick or pad elements without arithmetic, never touching the batch axis 0:
// Lasagne's PadLayer (pad), DimShuffle (dimshuffle), T.reshape (reshape) and Subtensor with a
// constant index or slice on one axis (subtensor). All exact. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_SHAPE_OPS_H_
#define THEANO_SERVING_CORE_OPS_SHAPE_OPS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "pad": attrs width (required: one [before, after] pair, or one int for both sides, per padded
// axis; the pairs pad the LAST len(width) axes) and value (0).
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakePad(LayerSpec spec, std::vector<Tensor<T>> params);

// "dimshuffle": attr pattern (required: input axes and "x" for a new axis of size 1; pattern[0]
// is 0; axes left out must have size 1).
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeDimshuffle(LayerSpec spec, std::vector<Tensor<T>> params);

// "reshape": attr shape (required: sizes >= 0, at most one -1 (inferred), or [i] = the input's
// size on axis i; shape[0] is [0], the batch).
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeReshape(LayerSpec spec, std::vector<Tensor<T>> params);

// "subtensor": attrs axis (required, not 0; negative counts from the end) and either index (the
// axis is dropped) or start / stop / step (Python slice semantics; null = default).
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSubtensor(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_SHAPE_OPS_H_
