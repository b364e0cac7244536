// CreateLayer: the one place that maps a Theano op name to the code that builds its Layer.
#ifndef THEANO_SERVING_CORE_LAYER_FACTORY_H_
#define THEANO_SERVING_CORE_LAYER_FACTORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// Every op name model.json may use, sorted.
const std::vector<std::string>& KnownOps();

// Builds the layer for spec.op with `params` bound in spec.params order. Returns InvalidArgument
// for an unknown op (listing the known ones) and whatever the op's Make function reports for bad
// attributes or parameters.
template <typename T>
absl::StatusOr<LayerPtr<T>> CreateLayer(LayerSpec spec, std::vector<Tensor<T>> params);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_LAYER_FACTORY_H_
