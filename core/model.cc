#include "core/model.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {

Model::Model(std::string name, InputSpec input, std::vector<std::string> classes,
             std::vector<LayerSummary> layers, DType dtype)
    : name_(std::move(name)),
      input_(std::move(input)),
      classes_(std::move(classes)),
      layers_(std::move(layers)),
      dtype_(dtype) {
  if (!layers_.empty() && !layers_.back().output_shape.empty()) {
    output_shape_.assign(layers_.back().output_shape.begin() + 1,
                         layers_.back().output_shape.end());
  }
}

Model::Model(std::string name, InputSpec input, std::vector<std::string> classes,
             Graph<float> graph, std::vector<LayerSummary> layers)
    : Model(std::move(name), std::move(input), std::move(classes), std::move(layers),
            DType::kFloat32) {
  graph_ = std::move(graph);
}

Model::Model(std::string name, InputSpec input, std::vector<std::string> classes,
             Graph<double> graph, std::vector<LayerSummary> layers)
    : Model(std::move(name), std::move(input), std::move(classes), std::move(layers),
            DType::kFloat64) {
  graph_ = std::move(graph);
}

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
  FastOptions fast_options = options.fast;
  fast_options.threads = options.intra_op_threads;
  RETURN_IF_ERROR(CheckFastOptions(fast_options));
  fast_.reset();
  engine_description_ = "reference engine";
  if (options.engine == Engine::kReference) return absl::OkStatus();
  const auto* graph = std::get_if<Graph<float>>(&graph_);
  if (graph == nullptr) {
    engine_description_ =
        "reference engine (the fast engine's kernels are float32; float64 models run the "
        "reference kernels)";
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<FastGraph>> fast =
      FastGraph::Compile(*graph, input_.shape(), fast_options);
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

absl::Status Model::CheckBatchShape(const Shape& shape) const {
  const Shape want = input_.BatchShape(shape.empty() ? 0 : shape[0]);
  if (shape == want) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("model ", name_, ": input must have shape ",
                                                 BatchShapeToString(input_.shape()), ", got ",
                                                 ShapeToString(shape)));
}

absl::Status Model::RunFloat(const Tensor<float>& batch, Tensor<float>* out) const {
  if (fast_ != nullptr) return fast_->Run(batch, out);
  return std::get<Graph<float>>(graph_).Run(batch, out);
}

absl::StatusOr<AnyTensor> Model::Predict(const AnyTensor& batch) const {
  RETURN_IF_ERROR(CheckBatchShape(ShapeOf(batch)));
  if (const auto* graph = std::get_if<Graph<double>>(&graph_)) {
    Tensor<double> out;
    if (const auto* in = std::get_if<Tensor<double>>(&batch)) {
      RETURN_IF_ERROR(graph->Run(*in, &out));
    } else {
      RETURN_IF_ERROR(graph->Run(ConvertTo<double>(batch), &out));
    }
    return AnyTensor(std::move(out));
  }
  Tensor<float> out;
  if (const auto* in = std::get_if<Tensor<float>>(&batch)) {
    RETURN_IF_ERROR(RunFloat(*in, &out));
  } else {
    RETURN_IF_ERROR(RunFloat(ConvertTo<float>(batch), &out));
  }
  return AnyTensor(std::move(out));
}

absl::StatusOr<Tensor<float>> Model::Predict(const Tensor<float>& batch) const {
  RETURN_IF_ERROR(CheckBatchShape(batch.shape()));
  if (dtype_ == DType::kFloat32) {
    Tensor<float> out;
    RETURN_IF_ERROR(RunFloat(batch, &out));
    return out;
  }
  Tensor<double> out;
  RETURN_IF_ERROR(std::get<Graph<double>>(graph_).Run(ConvertTo<double>(AnyTensor(batch)), &out));
  return ConvertTo<float>(AnyTensor(std::move(out)));
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
