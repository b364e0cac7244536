#include "core/model.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {

Model::Model(std::string name, InputSpec input, std::vector<std::string> classes,
             Graph<float> graph, std::vector<LayerSummary> layers)
    : name_(std::move(name)),
      input_(std::move(input)),
      classes_(std::move(classes)),
      graph_(std::move(graph)),
      layers_(std::move(layers)) {}

Model::~Model() = default;

absl::StatusOr<Engine> ParseEngine(absl::string_view name) {
  if (name == "fast") return Engine::kFast;
  if (name == "reference") return Engine::kReference;
  return absl::InvalidArgumentError(
      absl::StrCat("engine must be \"fast\" or \"reference\", got \"", name, "\""));
}

const char* EngineName(Engine engine) { return engine == Engine::kFast ? "fast" : "reference"; }

absl::Status Model::SetEngine(const ModelOptions& options) {
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be at least 1, got ", options.intra_op_threads));
  }
  fast_.reset();
  engine_description_ = "reference engine";
  if (options.engine == Engine::kReference) return absl::OkStatus();
  FastOptions fast_options;
  fast_options.threads = options.intra_op_threads;
  absl::StatusOr<std::unique_ptr<FastGraph>> fast =
      FastGraph::Compile(graph_, input_.shape(), fast_options);
  if (!fast.ok()) {
    engine_description_ = absl::StrCat(
        "reference engine (the fast engine cannot plan this graph: ", fast.status().message(), ")");
    return absl::OkStatus();
  }
  fast_ = std::move(*fast);
  engine_description_ = fast_->Describe();
  return absl::OkStatus();
}

int64_t Model::NumParams() const {
  int64_t n = 0;
  for (const LayerSummary& l : layers_) n += l.num_params;
  return n;
}

int64_t Model::FlopsPerImage() const {
  int64_t n = 0;
  for (const LayerSummary& l : layers_) n += l.flops;
  return n;
}

absl::StatusOr<Tensor<float>> Model::Predict(const Tensor<float>& batch) const {
  Shape want = input_.shape();
  want.insert(want.begin(), batch.rank() > 0 ? batch.dim(0) : 0);
  if (batch.shape() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("model ", name_, ": input must have shape (N, ", input_.channels, ", ",
                     input_.height, ", ", input_.width, "), got ", ShapeToString(batch.shape())));
  }
  Tensor<float> out;
  if (fast_ != nullptr) {
    RETURN_IF_ERROR(fast_->Run(batch, &out));
  } else {
    RETURN_IF_ERROR(graph_.Run(batch, &out));
  }
  return out;
}

std::vector<Prediction> Model::TopK(const float* row, int64_t k) const {
  const int64_t n = num_outputs();
  k = std::clamp<int64_t>(k, 0, n);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [row](int64_t a, int64_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  std::vector<Prediction> out;
  out.reserve(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) {
    Prediction p;
    p.index = idx[static_cast<size_t>(i)];
    p.label = p.index < static_cast<int64_t>(classes_.size())
                  ? classes_[static_cast<size_t>(p.index)]
                  : absl::StrCat(p.index);
    p.score = row[p.index];
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace theano_serving
