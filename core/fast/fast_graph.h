// FastGraph: the serving engine. A Graph<float> compiled once, for one item shape, into a plan of
// fast kernels (core/fast/kernels.h): activations kept channels-last (NHWC) between layers, or
// planar (NCHW, pixels in vector lanes) around stride-1 convs whose few output channels would
// leave lanes idle; conv/dense weights packed (and flipped, for filter_flip) once, bias and
// activation fused into the conv/dense epilogue; runs of per-image steps executed group of images
// by group so that intermediates stay in cache (image blocks); every buffer planned once so the
// hot path does not allocate. Layers without a fast kernel run their reference Run() on NCHW
// tensors.
//
// The reference Graph stays the specification: outputs agree with it within atol 1e-5 /
// rtol 1e-4 (the golden tolerance); see docs/PERFORMANCE.md for which kernel runs where and why.
#ifndef THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_
#define THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/graph.h"
#include "core/tensor.h"

namespace theano_serving {

struct FastOptions {
  // Threads one Run() may use (intra-op parallelism: the calling thread and its
  // fast::ThreadTeam). 1 = the calling thread only, the robust default on small machines where
  // requests already run in parallel.
  int threads = 1;
};

class FastGraph {
 public:
  // Compiles `graph` for inputs of shape (N, item_shape...). `graph` must outlive the FastGraph
  // (layers without a fast kernel call into it). InvalidArgument if the graph rejects the shape.
  static absl::StatusOr<std::unique_ptr<FastGraph>> Compile(const Graph<float>& graph,
                                                            const Shape& item_shape,
                                                            FastOptions options = {});
  ~FastGraph();
  FastGraph(const FastGraph&) = delete;
  FastGraph& operator=(const FastGraph&) = delete;

  // Same contract as Graph::Run for an input of shape (N, item_shape...), any N >= 1.
  // Thread-safe: concurrent calls use separate workspaces (kept for reuse, so steady-state calls
  // do not allocate). InvalidArgument for any other input shape.
  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) const {
    return RunTimed(input, output, nullptr);
  }
  // Run that also adds each step's wall time, in seconds, to (*step_seconds)[i] (resized to the
  // number of steps, Describe()'s lines after the first); for profiling.
  absl::Status RunTimed(const Tensor<float>& input, Tensor<float>* output,
                        std::vector<double>* step_seconds) const;

  // The plan, one line per step: which kernel, fused ops, layout, buffer sizes.
  std::string Describe() const;

  const FastOptions& options() const { return options_; }

  struct Plan;  // Defined in fast_graph.cc.

 private:
  FastGraph(Shape item_shape, FastOptions options);
  Shape item_shape_;
  FastOptions options_;
  std::unique_ptr<Plan> plan_;
};

// Tests: the bytes an image block's group of images may write (default 512 KiB); 1 makes every
// group one image. Applies to graphs compiled afterwards.
void SetImageBlockBytesForTesting(int64_t bytes);

// Tests: the most one image's values in one image block may take (0 = the default, 4 MiB); a small
// value cuts runs of blockable steps into several blocks. Applies to graphs compiled afterwards.
void SetImageBlockMaxBytesForTesting(int64_t bytes);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_
