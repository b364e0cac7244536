// The engines the peers benchmark compares. Each is built once per (model, batch, threads) —
// every weight transformation, primitive creation and buffer allocation happens in the factory —
// so Run() measures one forward pass only.
#ifndef THEANO_SERVING_BENCH_ENGINES_H_
#define THEANO_SERVING_BENCH_ENGINES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/models.h"
#include "bench/peer_net.h"
#include "core/cpu.h"
#include "core/fast/fast_graph.h"
#include "core/tensor.h"

namespace theano_serving::bench {

class Engine {
 public:
  virtual ~Engine() = default;
  // Short name for the table ("oneDNN 2.6.3").
  virtual std::string name() const = 0;
  // What the engine was built into (fusions, fallbacks), one line; may be empty.
  virtual std::string notes() const { return ""; }
  // One forward pass of `input` (batch, item_shape...) into `output` (resized to (batch, K)).
  // Not thread-safe. Errors only for an input of another shape, or a library failure.
  virtual absl::Status Run(const Tensor<float>& input, Tensor<float>* output) = 0;
};

// Our serving engine: FastGraph::Compile(model.graph, item_shape, {threads, isa}); no `isa`:
// the widest this CPU runs.
absl::StatusOr<std::unique_ptr<Engine>> MakeOursEngine(
    const BenchModel& model, int threads, std::optional<Isa> isa = std::nullopt,
    FastOptions::Winograd winograd = FastOptions::Winograd::kAuto);
// The reference Graph::Run (single-threaded specification kernels).
absl::StatusOr<std::unique_ptr<Engine>> MakeReferenceEngine(const BenchModel& model);
// The algorithm oneDNN's convolutions are created with. kAuto: convolution_auto, oneDNN's own
// choice (bench_peers' "onednn"). kWinograd: convolution_winograd for every conv oneDNN has a
// Winograd kernel for (2.6: f32 3x3 stride 1 on AVX-512 only), convolution_direct for the others
// ("onednn_winograd").
enum class OneDnnConvAlgo { kAuto, kWinograd };
// oneDNN called directly: one primitive per fused op, format_tag::any, one reorder in and out.
// The OpenMP thread count in effect when it is built is the one it runs with.
absl::StatusOr<std::unique_ptr<Engine>> MakeOneDnnEngine(const PeerNet& net, int64_t batch,
                                                         OneDnnConvAlgo conv_algo);
// cv::dnn::Net assembled layer by layer from the same weights (OpenCV backend, CPU target).
absl::StatusOr<std::unique_ptr<Engine>> MakeOpenCvEngine(const PeerNet& net, int64_t batch);
// Theano's CorrMM recipe: per image im2col + cblas_sgemm per conv, sgemm for dense, plain loops
// for the rest. `net` should be lowered with hoist_bias_over_max_pool = false and
// fold_batch_norm = false (Theano's order), and must outlive the engine (it is not copied).
absl::StatusOr<std::unique_ptr<Engine>> MakeIm2colBlasEngine(const PeerNet& net, int64_t batch);

// Thread counts for every runtime the engines use: OpenMP (ours, oneDNN), OpenBLAS, OpenCV.
void SetAllThreads(int threads);

// The instruction set oneDNN's kernels use in this process ("avx512_core", "avx2", ...: its
// dnnl::get_effective_cpu_isa(), which ONEDNN_MAX_CPU_ISA caps). Fixes that cap: call it only
// after the environment is set.
std::string OneDnnCpuIsa();

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_ENGINES_H_
