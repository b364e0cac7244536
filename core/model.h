// Model: an immutable classifier = preprocessing spec + graph + class labels.
// Made by LoadModel (core/model_loader.h), which validates everything first. All methods are const
// and thread-safe.
#ifndef THEANO_SERVING_CORE_MODEL_H_
#define THEANO_SERVING_CORE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/fast/fast_graph.h"
#include "core/graph.h"
#include "core/preprocess.h"
#include "core/tensor.h"

namespace theano_serving {

// One entry of a top-k answer.
struct Prediction {
  int64_t index = 0;
  std::string label;  // classes[index], or the index as text when the model has no labels.
  float score = 0;
};

// Which engine runs Predict: the fast kernels (core/fast, the default) or the reference kernels
// (core/ops, the specification).
enum class Engine { kFast, kReference };

// "fast" or "reference"; InvalidArgument naming the value otherwise.
absl::StatusOr<Engine> ParseEngine(absl::string_view name);
const char* EngineName(Engine engine);

struct ModelOptions {
  Engine engine = Engine::kFast;
  // Threads one Predict call may use inside the fast engine (FastOptions::threads).
  int intra_op_threads = 1;
};

class Model {
 public:
  Model(std::string name, InputSpec input, std::vector<std::string> classes, Graph<float> graph,
        std::vector<LayerSummary> layers);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Selects the engine. For Engine::kFast the graph is compiled for this model's input shape; a
  // graph the fast planner cannot take keeps the reference engine, and engine_description() says
  // why. InvalidArgument only for bad options (threads < 1).
  absl::Status SetEngine(const ModelOptions& options);
  // The engine Predict uses.
  Engine engine() const { return fast_ != nullptr ? Engine::kFast : Engine::kReference; }
  // The fast engine (null when the reference engine runs).
  const FastGraph* fast_graph() const { return fast_.get(); }
  // The fast engine's plan (one line per step), or why the reference engine runs.
  const std::string& engine_description() const { return engine_description_; }

  const std::string& name() const { return name_; }
  const InputSpec& input() const { return input_; }
  // Class labels in output order; may be empty (then labels are the indices).
  const std::vector<std::string>& classes() const { return classes_; }
  // Width of the output (the number of classes).
  int64_t num_outputs() const { return layers_.back().output_shape.back(); }
  // Per-layer shapes and costs for one image (batch 1).
  const std::vector<LayerSummary>& layers() const { return layers_; }
  int64_t NumParams() const;
  int64_t FlopsPerImage() const;
  const Graph<float>& graph() const { return graph_; }

  // Runs a batch of shape (N, C, H, W) as the input spec says; returns (N, num_outputs()).
  // InvalidArgument naming the expected and the actual shape otherwise.
  absl::StatusOr<Tensor<float>> Predict(const Tensor<float>& batch) const;

  // The k best entries of one output row, best first; ties go to the lower index. k is clamped to
  // [0, num_outputs()].
  std::vector<Prediction> TopK(const float* row, int64_t k) const;

 private:
  std::string name_;
  InputSpec input_;
  std::vector<std::string> classes_;
  Graph<float> graph_;
  std::vector<LayerSummary> layers_;
  std::unique_ptr<FastGraph> fast_;  // Null: the reference engine. Refers to graph_.
  std::string engine_description_ = "reference engine";
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_MODEL_H_
