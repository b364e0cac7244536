// Ours (FastGraph) and the reference Graph as benchmark engines, plus the thread setting shared by
// every runtime in the process.
#include <omp.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/engines.h"
#include "cblas.h"  // OpenBLAS: openblas_set_num_threads
#include "core/fast/fast_graph.h"
#include "core/status_macros.h"
#include "opencv2/core.hpp"

namespace theano_serving::bench {
namespace {

class OursEngine : public Engine {
 public:
  explicit OursEngine(std::unique_ptr<FastGraph> fast) : fast_(std::move(fast)) {}
  std::string name() const override { return "ours (FastGraph)"; }
  // "avx2: " and the plan: the instruction set the graph was compiled for, as requested.
  std::string notes() const override {
    const std::optional<Isa> isa = fast_->options().isa;
    return absl::StrCat(isa.has_value() ? IsaString(*isa) : "default isa", ": ", fast_->Describe());
  }
  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) override {
    return fast_->Run(input, output);
  }

 private:
  std::unique_ptr<FastGraph> fast_;
};

class ReferenceEngine : public Engine {
 public:
  explicit ReferenceEngine(const Graph<float>& graph) : graph_(graph) {}
  std::string name() const override { return "reference Graph"; }
  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) override {
    return graph_.Run(input, output);
  }

 private:
  const Graph<float>& graph_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> MakeOursEngine(const BenchModel& model, int threads,
                                                       std::optional<Isa> isa,
                                                       FastOptions::Winograd winograd) {
  FastOptions options;
  options.threads = threads;
  options.isa = isa;
  options.winograd = winograd;
  ASSIGN_OR_RETURN(std::unique_ptr<FastGraph> fast,
                   FastGraph::Compile(*model.graph, model.item_shape, options));
  return std::unique_ptr<Engine>(new OursEngine(std::move(fast)));
}

absl::StatusOr<std::unique_ptr<Engine>> MakeReferenceEngine(const BenchModel& model) {
  return std::unique_ptr<Engine>(new ReferenceEngine(*model.graph));
}

void SetAllThreads(int threads) {
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  cv::setNumThreads(threads);
}

}  // namespace theano_serving::bench
