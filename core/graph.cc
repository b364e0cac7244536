#include "core/graph.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/layer_factory.h"
#include "core/status_macros.h"

namespace theano_serving {

template <typename T>
absl::StatusOr<Graph<T>> Graph<T>::Build(std::vector<LayerSpec> specs,
                                         const std::string& input_name, const ParamSource& params) {
  Graph graph;
  if (specs.empty()) return absl::InvalidArgumentError("the model has no layers");
  std::map<std::string, int, std::less<>> names;  // layer name → node index
  names[input_name] = -1;
  for (size_t i = 0; i < specs.size(); ++i) {
    LayerSpec& spec = specs[i];
    Node node;
    if (spec.inputs.empty()) {
      node.inputs.push_back(static_cast<int>(i) - 1);
    } else {
      for (const std::string& in : spec.inputs) {
        auto it = names.find(in);
        if (it == names.end()) {
          return LayerError(spec, absl::StrCat("input \"", in, "\" is neither the model input \"",
                                               input_name, "\" nor the name of an earlier layer"));
        }
        node.inputs.push_back(it->second);
      }
    }
    if (!spec.name.empty()) {
      if (!names.emplace(spec.name, static_cast<int>(i)).second) {
        return LayerError(spec,
                          absl::StrCat("layer name \"", spec.name,
                                       "\" is already used by an earlier layer or the input"));
      }
    }
    ASSIGN_OR_RETURN(std::vector<Tensor<T>> p, params(spec));
    ASSIGN_OR_RETURN(node.layer, CreateLayer<T>(std::move(spec), std::move(p)));
    RETURN_IF_ERROR(ExpectInputCount(node.layer->spec(), node.inputs.size(),
                                     node.layer->min_inputs(), node.layer->max_inputs()));
    graph.nodes_.push_back(std::move(node));
  }
  return graph;
}

template <typename T>
absl::StatusOr<std::vector<LayerSummary>> Graph<T>::Describe(const Shape& input_shape) const {
  std::vector<LayerSummary> out;
  std::vector<Shape> shapes;
  for (const Node& node : nodes_) {
    std::vector<Shape> in;
    for (int j : node.inputs) in.push_back(j < 0 ? input_shape : shapes[static_cast<size_t>(j)]);
    ASSIGN_OR_RETURN(Shape s, node.layer->OutputShape(in));
    LayerSummary summary;
    summary.description = node.layer->spec().Describe();
    summary.op = node.layer->spec().op;
    summary.output_shape = s;
    summary.num_params = node.layer->NumParams();
    summary.flops = node.layer->Flops(in);
    out.push_back(std::move(summary));
    shapes.push_back(std::move(s));
  }
  return out;
}

template <typename T>
absl::Status Graph<T>::Run(const Tensor<T>& input, Tensor<T>* output,
                           std::vector<Tensor<T>>* intermediates) const {
  std::vector<Tensor<T>> local;
  std::vector<Tensor<T>>& outs = intermediates != nullptr ? *intermediates : local;
  outs.clear();
  outs.resize(nodes_.size());
  std::vector<Shape> in_shapes;
  std::vector<const Tensor<T>*> in_tensors;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    in_shapes.clear();
    in_tensors.clear();
    for (int j : node.inputs) {
      const Tensor<T>* t = j < 0 ? &input : &outs[static_cast<size_t>(j)];
      in_tensors.push_back(t);
      in_shapes.push_back(t->shape());
    }
    ASSIGN_OR_RETURN(Shape s, node.layer->OutputShape(in_shapes));
    outs[i].Resize(std::move(s));
    node.layer->Run(in_tensors, &outs[i]);
  }
  *output = intermediates != nullptr ? outs.back() : std::move(outs.back());
  return absl::OkStatus();
}

template class Graph<float>;
template class Graph<double>;

}  // namespace theano_serving
