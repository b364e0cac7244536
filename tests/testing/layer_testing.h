// Helpers for the op tests (tests/unit/*_test.cc): a LayerSpec from JSON text, and running one
// layer the way the model graph does (OutputShape of the inputs' shapes, then Run into an output of
// that shape). Expected values stay in each test, with where they came from.
#ifndef THEANO_SERVING_TESTS_TESTING_LAYER_TESTING_H_
#define THEANO_SERVING_TESTS_TESTING_LAYER_TESTING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {
namespace testing_util {

// A LayerSpec for `op` named `name` with these attributes (JSON text; invalid JSON is a test
// failure and gives no attributes) and parameter names.
LayerSpec MakeSpec(const std::string& op, absl::string_view attrs_json = "{}",
                   const std::string& name = "", std::vector<std::string> params = {});

// Runs `layer` on `inputs`: OutputShape of their shapes, then Run. The output, or OutputShape's
// error (Run itself cannot fail).
template <typename T>
absl::StatusOr<Tensor<T>> RunLayer(const Layer<T>& layer, const std::vector<Tensor<T>>& inputs);
template <typename T>
absl::StatusOr<Tensor<T>> RunLayer(const Layer<T>& layer, const Tensor<T>& input);

// RunLayer on one input the layer must accept: if OutputShape refuses it, a test failure and an
// empty tensor.
template <typename T>
Tensor<T> RunValid(const Layer<T>& layer, const Tensor<T>& input);

// The name MakeLayer and RunOp give their layers: errors read `dense "layer": ...`.
inline constexpr char kLayerName[] = "layer";

// The factory's layer (CreateLayer) for `op` named kLayerName, with these attributes (JSON text),
// parameters and parameter names.
template <typename T = float>
absl::StatusOr<LayerPtr<T>> MakeLayer(const std::string& op, absl::string_view attrs_json = "{}",
                                      std::vector<Tensor<T>> params = {},
                                      std::vector<std::string> param_names = {});

// MakeLayer(op, attrs_json), run on `input`: the output, or the error of making or of OutputShape.
template <typename T>
absl::StatusOr<Tensor<T>> RunOp(const std::string& op, absl::string_view attrs_json,
                                const Tensor<T>& input);

}  // namespace testing_util
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_TESTING_LAYER_TESTING_H_
