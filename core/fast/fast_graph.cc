#include "core/fast/fast_graph.h"

#include <utility>

namespace theano_serving {

struct FastGraph::Plan {};

FastGraph::FastGraph(const Graph<float>& graph, Shape item_shape, FastOptions options)
    : graph_(graph), item_shape_(std::move(item_shape)), options_(options) {}
FastGraph::~FastGraph() = default;

absl::StatusOr<std::unique_ptr<FastGraph>> FastGraph::Compile(const Graph<float>& graph,
                                                              const Shape& item_shape,
                                                              FastOptions options) {
  // Placeholder until the planner lands: runs the reference graph.
  return std::unique_ptr<FastGraph>(new FastGraph(graph, item_shape, options));
}

absl::Status FastGraph::Run(const Tensor<float>& input, Tensor<float>* output) const {
  return graph_.Run(input, output);
}

std::string FastGraph::Describe() const { return "reference (placeholder)"; }

}  // namespace theano_serving
