// LoadModel: a model directory (model.json + params.npz, docs/MODEL_FORMAT.md) → Model.
#ifndef THEANO_SERVING_CORE_MODEL_LOADER_H_
#define THEANO_SERVING_CORE_MODEL_LOADER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/model.h"
#include "nlohmann/json.hpp"

namespace theano_serving {

// Loads and validates the model in `dir`. `name` overrides model.json's "name" (a model
// repository passes the directory name). Every parameter's dtype, shape and values and every
// layer's output shape are checked before the model is returned; errors (InvalidArgument, or
// NotFound for missing files) name the file, the layer, the parameter and the numbers.
// Thread-safe; the returned Model is immutable.
// `options` selects the engine (Model::SetEngine).
absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& dir,
                                                 const std::string& name = "",
                                                 const ModelOptions& options = {});

// Parses one entry of model.json's `layers` (or of a golden network case). Keys: op (required),
// attrs, params, name, inputs; any other key is an error. `index` is the position in the list.
absl::StatusOr<LayerSpec> ParseLayerSpec(const nlohmann::json& layer, int index);

// Parses a whole `layers` array.
absl::StatusOr<std::vector<LayerSpec>> ParseLayerSpecs(const nlohmann::json& layers);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_MODEL_LOADER_H_
