#include "tests/testing/layer_testing.h"

#include <utility>

#include "core/layer_factory.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace testing_util {

LayerSpec MakeSpec(const std::string& op, absl::string_view attrs_json, const std::string& name,
                   std::vector<std::string> params) {
  LayerSpec spec;
  spec.op = op;
  spec.name = name;
  spec.params = std::move(params);
  nlohmann::json attrs = nlohmann::json::parse(attrs_json, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(attrs.is_discarded()) << "attributes of " << op << " are not JSON: " << attrs_json;
  if (!attrs.is_discarded()) spec.attrs = std::move(attrs);
  return spec;
}

template <typename T>
absl::StatusOr<Tensor<T>> RunLayer(const Layer<T>& layer, const std::vector<Tensor<T>>& inputs) {
  std::vector<Shape> shapes;
  std::vector<const Tensor<T>*> pointers;
  for (const Tensor<T>& input : inputs) {
    shapes.push_back(input.shape());
    pointers.push_back(&input);
  }
  absl::StatusOr<Shape> shape = layer.OutputShape(shapes);
  if (!shape.ok()) return shape.status();
  Tensor<T> output(*std::move(shape));
  layer.Run(pointers, &output);
  return output;
}

template <typename T>
absl::StatusOr<Tensor<T>> RunLayer(const Layer<T>& layer, const Tensor<T>& input) {
  absl::StatusOr<Shape> shape = layer.OutputShape({input.shape()});
  if (!shape.ok()) return shape.status();
  Tensor<T> output(*std::move(shape));
  const Tensor<T>* inputs[] = {&input};
  layer.Run(inputs, &output);
  return output;
}

template <typename T>
Tensor<T> RunValid(const Layer<T>& layer, const Tensor<T>& input) {
  absl::StatusOr<Tensor<T>> output = RunLayer(layer, input);
  EXPECT_TRUE(output.ok()) << layer.spec().Describe() << " refused input "
                           << ShapeToString(input.shape()) << ": " << output.status();
  return output.ok() ? *std::move(output) : Tensor<T>();
}

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLayer(const std::string& op, absl::string_view attrs_json,
                                      std::vector<Tensor<T>> params,
                                      std::vector<std::string> param_names) {
  return CreateLayer<T>(MakeSpec(op, attrs_json, kLayerName, std::move(param_names)),
                        std::move(params));
}

template <typename T>
absl::StatusOr<Tensor<T>> RunOp(const std::string& op, absl::string_view attrs_json,
                                const Tensor<T>& input) {
  absl::StatusOr<LayerPtr<T>> layer = MakeLayer<T>(op, attrs_json);
  if (!layer.ok()) return layer.status();
  return RunLayer(**layer, input);
}

template absl::StatusOr<Tensor<float>> RunLayer(const Layer<float>&,
                                                const std::vector<Tensor<float>>&);
template absl::StatusOr<Tensor<double>> RunLayer(const Layer<double>&,
                                                 const std::vector<Tensor<double>>&);
template absl::StatusOr<Tensor<float>> RunLayer(const Layer<float>&, const Tensor<float>&);
template absl::StatusOr<Tensor<double>> RunLayer(const Layer<double>&, const Tensor<double>&);
template Tensor<float> RunValid(const Layer<float>&, const Tensor<float>&);
template Tensor<double> RunValid(const Layer<double>&, const Tensor<double>&);
template absl::StatusOr<LayerPtr<float>> MakeLayer(const std::string&, absl::string_view,
                                                   std::vector<Tensor<float>>,
                                                   std::vector<std::string>);
template absl::StatusOr<LayerPtr<double>> MakeLayer(const std::string&, absl::string_view,
                                                    std::vector<Tensor<double>>,
                                                    std::vector<std::string>);
template absl::StatusOr<Tensor<float>> RunOp(const std::string&, absl::string_view,
                                             const Tensor<float>&);
template absl::StatusOr<Tensor<double>> RunOp(const std::string&, absl::string_view,
                                              const Tensor<double>&);

}  // namespace testing_util
}  // namespace theano_serving
