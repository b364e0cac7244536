// FastGraph: Compile runs the pipeline (planner, then the passes), Run hands a workspace to the
// executor. core/fast/README.md describes the stages.
#include "core/fast/fast_graph.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/fast/executor.h"
#include "core/fast/passes.h"
#include "core/fast/plan.h"
#include "core/fast/planner.h"
#include "core/status_macros.h"

namespace theano_serving {

absl::Status CheckFastOptions(const FastOptions& options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be at least 1, got ", options.threads));
  }
  if (options.isa.has_value() && *options.isa > CpuIsa()) {
    return absl::InvalidArgumentError(absl::StrCat("isa ", IsaString(*options.isa),
                                                   " is not available on this CPU (it has ",
                                                   IsaString(CpuIsa()), ")"));
  }
  if (options.image_block_bytes < 1 || options.image_block_max_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_block_bytes and image_block_max_bytes must be at least 1, got ",
                     options.image_block_bytes, " and ", options.image_block_max_bytes));
  }
  if (options.reduction_slice_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("reduction_slice_bytes must be at least 0, got ",
                                                   options.reduction_slice_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<FastOptions::Winograd> ParseWinograd(absl::string_view name) {
  for (FastOptions::Winograd w : {FastOptions::Winograd::kAuto, FastOptions::Winograd::kNever,
                                  FastOptions::Winograd::kAlways}) {
    if (name == WinogradName(w)) return w;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("winograd must be auto, never or always, got \"", name, "\""));
}

const char* WinogradName(FastOptions::Winograd winograd) {
  switch (winograd) {
    case FastOptions::Winograd::kAuto:
      return "auto";
    case FastOptions::Winograd::kNever:
      return "never";
    case FastOptions::Winograd::kAlways:
      return "always";
  }
  return "?";
}

namespace {

// The layers' summaries for a batch of one; InvalidArgument if some layer's output does not keep
// the batch as its first axis (the plan scales every buffer with the batch).
absl::StatusOr<std::vector<LayerSummary>> SummariesPerItem(const Graph<float>& graph,
                                                           const Shape& item_shape) {
  Shape one = {1};
  Shape two = {2};
  one.insert(one.end(), item_shape.begin(), item_shape.end());
  two.insert(two.end(), item_shape.begin(), item_shape.end());
  ASSIGN_OR_RETURN(std::vector<LayerSummary> s1, graph.Describe(one));
  ASSIGN_OR_RETURN(std::vector<LayerSummary> s2, graph.Describe(two));
  for (size_t i = 0; i < s1.size(); ++i) {
    Shape doubled = s1[i].output_shape;
    if (!doubled.empty()) doubled[0] *= 2;
    if (s1[i].output_shape.empty() || s1[i].output_shape[0] != 1 || doubled != s2[i].output_shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          graph.layer(i).spec().Describe(), ": output ", ShapeToString(s1[i].output_shape),
          " does not keep the batch as its first axis; the fast engine cannot plan it"));
    }
  }
  return s1;
}

}  // namespace

FastGraph::FastGraph(Shape item_shape, FastOptions options)
    : item_shape_(std::move(item_shape)),
      options_(options),
      plan_(std::make_unique<fast::Plan>()),
      workspaces_(std::make_unique<fast::WorkspacePool>()) {}
FastGraph::~FastGraph() = default;

absl::StatusOr<std::unique_ptr<FastGraph>> FastGraph::Compile(const Graph<float>& graph,
                                                              const Shape& item_shape,
                                                              FastOptions options) {
  if (graph.num_layers() == 0) return absl::InvalidArgumentError("the graph has no layers");
  RETURN_IF_ERROR(CheckFastOptions(options));
  if (!options.isa.has_value()) options.isa = CpuIsa();
  ASSIGN_OR_RETURN(std::vector<LayerSummary> summaries, SummariesPerItem(graph, item_shape));
  std::unique_ptr<FastGraph> fg(new FastGraph(item_shape, options));
  fast::Plan& plan = *fg->plan_;
  Shape one = {1};
  one.insert(one.end(), item_shape.begin(), item_shape.end());
  fast::Planner planner(graph, summaries, one, fg->options_, &plan);
  RETURN_IF_ERROR(planner.EmitSteps());
  fast::FoldPads(&plan);
  fast::FoldConcats(&plan);
  fast::FormImageBlocks({options.image_block_bytes, options.image_block_max_bytes}, &plan);
  fast::AssignSlots(&plan);
  fast::SizeShareScratch(*options.isa, &plan);
  return fg;
}

absl::Status FastGraph::RunTimed(const Tensor<float>& input, Tensor<float>* output,
                                 std::vector<double>* step_seconds) const {
  const Shape& in_shape = input.shape();
  if (in_shape.size() != item_shape_.size() + 1 ||
      !std::equal(item_shape_.begin(), item_shape_.end(), in_shape.begin() + 1) ||
      in_shape[0] < 0) {
    Shape want = {-1};
    want.insert(want.end(), item_shape_.begin(), item_shape_.end());
    return absl::InvalidArgumentError(absl::StrCat("input shape ", ShapeToString(in_shape),
                                                   " does not match the model's (N",
                                                   ShapeToString(item_shape_).substr(1)));
  }
  const int64_t n = in_shape[0];
  // (An output tensor reused at the same batch size is not reshaped: no allocation.)
  const Shape& want = plan_->output_shape;
  const Shape& have = output->shape();
  if (have.size() != want.size() || have.empty() || have[0] != n ||
      !std::equal(have.begin() + 1, have.end(), want.begin() + 1)) {
    Shape out_shape = want;
    out_shape[0] = n;
    output->Resize(out_shape);
  }
  if (n == 0) return absl::OkStatus();
  fast::KernelEnv env;
  env.isa = *options_.isa;
  env.threads = options_.threads;
  env.parallelize_any_size = options_.parallelize_any_size;
  std::unique_ptr<fast::Workspace> ws = workspaces_->Take();
  fast::Execute(*plan_, env, input, output, ws.get(), step_seconds);
  workspaces_->Give(std::move(ws));
  return absl::OkStatus();
}

std::string FastGraph::Describe() const {
  std::vector<std::string> lines;
  int64_t total = 0;
  for (int64_t e : plan_->slot_elements) total += e;
  lines.push_back(absl::StrCat("fast engine, ", options_.threads, " thread(s), ",
                               plan_->steps.size(), " steps, ", plan_->slot_elements.size(),
                               " buffers of ", total * 4, " bytes per image"));
  for (size_t i = 0; i < plan_->steps.size(); ++i) {
    std::string line = absl::StrCat("  ", plan_->steps[i].label);
    if (plan_->block_end[i] > i + 1) {
      absl::StrAppend(&line, " [image block of steps ", i + 1, "-", plan_->block_end[i], ", ",
                      plan_->block_images[i], " images per group]");
    }
    lines.push_back(std::move(line));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace theano_serving
