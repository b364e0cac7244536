// FastGraph: the serving engine. A Graph<float> compiled once, for one item shape, into a plan of
// fast kernels: activations kept channels-last (NHWC) between layers, or planar (NCHW, pixels in
// vector lanes) around stride-1 convs whose few output channels would leave lanes idle; conv/dense
// weights packed (and flipped, for filter_flip) once, bias and activation fused into the
// conv/dense epilogue; runs of per-image steps executed group of images by group so that
// intermediates stay in cache (image blocks); every buffer planned once so the hot path does not
// allocate. Layers without a fast kernel run their reference Run() on NCHW tensors.
//
// The reference Graph stays the specification: outputs agree with it within atol 1e-5 /
// rtol 1e-4 (the golden tolerance); see docs/PERFORMANCE.md for which kernel runs where and why,
// and core/fast/README.md for how the compiler is built (planner, passes, executor, kernels).
#ifndef THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_
#define THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/cpu.h"
#include "core/graph.h"
#include "core/tensor.h"

namespace theano_serving {

namespace fast {
struct Plan;
class WorkspacePool;
}  // namespace fast

// Everything that shapes a compiled graph besides the graph itself. Each FastGraph keeps its own
// copy: two graphs compiled with different options run side by side. The defaults are what the
// server runs; the tuning fields exist for tests (which exercise rare plans on small graphs) and
// for measurements.
struct FastOptions {
  // Threads one Run() may use (intra-op parallelism: the calling thread and its
  // fast::ThreadTeam). 1 = the calling thread only, the robust default on small machines where
  // requests already run in parallel. Must be >= 1.
  int threads = 1;

  // The instruction set of every kernel in the plan (also the block widths and layouts the
  // planner picks for it). Unset: the widest this CPU runs (CpuIsa()). Compile refuses one the
  // CPU lacks. The same graph, ISA and input give bit-identical outputs whatever `threads`.
  std::optional<Isa> isa;

  // Image blocks (docs/PERFORMANCE.md): the bytes a block's group of images may write, so that
  // they stay in the L2 cache between the block's steps; 1 makes every group one image. >= 1.
  int64_t image_block_bytes = 512 << 10;
  // The most one image's values in one block may take (they stay in the L3 cache while the group
  // runs); a longer run of blockable steps is cut into several blocks. >= 1.
  int64_t image_block_max_bytes = 4 << 20;

  // Conv reduction slices: bytes of weights per slice (partial sums parked in the output
  // between slices). 0 = three quarters of the L2 cache; a small value makes every tile run in
  // many slices.
  int64_t reduction_slice_bytes = 0;

  // Which stride-1, one-group convs run planar (pixels in lanes): as fast::PreferPlanar decides
  // (AVX-512 only), every one (on any ISA: the portable planar kernel without AVX-512), or none.
  enum class PlanarConv { kAuto, kAlways, kNever };
  PlanarConv planar_conv = PlanarConv::kAuto;

  // Which NHWC 3x3 stride-1 one-group convs run as Winograd F(2x2, 3x3) (core/fast/winograd.h:
  // 2.25x fewer multiplications, about twice the direct kernel's rounding error, within the
  // golden tolerance): as fast::PreferWinograd decides, every one that can, or none (the direct
  // kernel's rounding only).
  enum class Winograd { kAuto, kAlways, kNever };
  Winograd winograd = Winograd::kAuto;

  // Split every step over the threads however small (normally steps under ~4 MFLOP or 256 Ki
  // floats run on the calling thread alone), so that small test graphs take the parallel paths.
  bool parallelize_any_size = false;
};

// OK, or InvalidArgument naming the first option out of range (or an `isa` this CPU lacks).
absl::Status CheckFastOptions(const FastOptions& options);

// The --winograd flag of the programs (server, theano-serving-model, bench_peers): "auto",
// "never" or "always" (FastOptions::Winograd), and back.
absl::StatusOr<FastOptions::Winograd> ParseWinograd(absl::string_view name);
const char* WinogradName(FastOptions::Winograd winograd);

class FastGraph {
 public:
  // Compiles `graph` for inputs of shape (N, item_shape...). `graph` must outlive the FastGraph
  // (layers without a fast kernel call into it). InvalidArgument if the graph rejects the shape
  // or an option is out of range (the message names it).
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

  // The options compiled with; `isa` is always set (to the one the kernels use).
  const FastOptions& options() const { return options_; }

 private:
  FastGraph(Shape item_shape, FastOptions options);
  Shape item_shape_;
  FastOptions options_;
  std::unique_ptr<fast::Plan> plan_;
  std::unique_ptr<fast::WorkspacePool> workspaces_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_FAST_GRAPH_H_
