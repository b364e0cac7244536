// Graph: the layers of a model wired together. Layers run in list order; each reads the previous
// layer's output unless its spec names its inputs ("input" = the graph input, or an earlier layer's
// name), which is how residual `add` and inception-style `concatenate` blocks are expressed.
// Immutable once built; Run() is const and thread-safe.
#ifndef THEANO_SERVING_CORE_GRAPH_H_
#define THEANO_SERVING_CORE_GRAPH_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// One layer's shapes and cost for a given input shape (see Graph::Describe).
struct LayerSummary {
  std::string description;  // LayerSpec::Describe()
  std::string op;
  Shape output_shape;
  int64_t num_params = 0;
  int64_t flops = 0;
};

template <typename T>
class Graph {
 public:
  // Returns the parameters named in a LayerSpec (spec.params order), e.g. from params.npz.
  using ParamSource = std::function<absl::StatusOr<std::vector<Tensor<T>>>(const LayerSpec&)>;

  // Builds every layer (CreateLayer) and resolves input names. `input_name` is the name layers use
  // for the graph input. Errors name the layer: an unknown op or attribute, a bad parameter, a
  // duplicate layer name, or an input that is not an earlier layer.
  static absl::StatusOr<Graph> Build(std::vector<LayerSpec> specs, const std::string& input_name,
                                     const ParamSource& params);

  // Checks every layer's shapes for a graph input of `input_shape`; returns each layer's summary
  // (the last one's output_shape is the graph output). Errors name the failing layer.
  absl::StatusOr<std::vector<LayerSummary>> Describe(const Shape& input_shape) const;

  // Runs the graph. If `intermediates` is not null it receives every layer's output, in order.
  // Errors (InvalidArgument) only for an input shape some layer rejects.
  absl::Status Run(const Tensor<T>& input, Tensor<T>* output,
                   std::vector<Tensor<T>>* intermediates = nullptr) const;

  size_t num_layers() const { return nodes_.size(); }
  const Layer<T>& layer(size_t i) const { return *nodes_[i].layer; }
  // The graph inputs of layer i: -1 = the graph input, else the index of an earlier layer.
  const std::vector<int>& layer_inputs(size_t i) const { return nodes_[i].inputs; }

 private:
  struct Node {
    LayerPtr<T> layer;
    std::vector<int> inputs;  // -1 = graph input, else the index of an earlier node.
  };
  std::vector<Node> nodes_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_GRAPH_H_
