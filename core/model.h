// Model: an immutable model = input spec (preprocessing) + graph + class labels, computing in
// float32 or float64 (model.json "dtype", Theano's floatX).
// Made by LoadModel (core/model_loader.h), which validates everything first. All methods are const
// and thread-safe.
#ifndef THEANO_SERVING_CORE_MODEL_H_
#define THEANO_SERVING_CORE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
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
  // The fast engine's other options (instruction set, tuning); its `threads` is ignored:
  // intra_op_threads sets it.
  FastOptions fast;
};

class Model {
 public:
  // A model computing in T (float: Theano floatX=float32; double: float64). `layers` are the
  // graph's summaries for a batch of one (Graph::Describe); the last one's shape is the output.
  Model(std::string name, InputSpec input, std::vector<std::string> classes, Graph<float> graph,
        std::vector<LayerSummary> layers);
  Model(std::string name, InputSpec input, std::vector<std::string> classes, Graph<double> graph,
        std::vector<LayerSummary> layers);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Selects the engine. For Engine::kFast a float32 graph is compiled for this model's input
  // shape; a graph the fast planner cannot take, and every float64 model (the fast kernels are
  // float32), keep the reference engine, and engine_description() says why. InvalidArgument only
  // for bad options (threads < 1, fast options out of range or an ISA the CPU lacks).
  absl::Status SetEngine(const ModelOptions& options);
  // The engine Predict uses.
  Engine engine() const { return fast_ != nullptr ? Engine::kFast : Engine::kReference; }
  // The fast engine (null when the reference engine runs).
  const FastGraph* fast_graph() const { return fast_.get(); }
  // The fast engine's plan (one line per step), or why the reference engine runs.
  const std::string& engine_description() const { return engine_description_; }

  const std::string& name() const { return name_; }
  const InputSpec& input() const { return input_; }
  // The dtype the model computes in, takes and returns.
  DType dtype() const { return dtype_; }
  // Class labels in output order; may be empty (then labels are the indices).
  const std::vector<std::string>& classes() const { return classes_; }
  // The shape of one item's output, without the batch axis: (K,) for K class scores.
  const Shape& output_shape() const { return output_shape_; }
  // Values per item of the output (the product of output_shape()).
  int64_t num_outputs() const { return NumElements(output_shape_); }
  // True when each item's output is one vector of scores (a 2-D output), where top-k and
  // class labels make sense.
  bool outputs_scores() const { return output_shape_.size() == 1; }
  // Per-layer shapes and costs for one image (batch 1).
  const std::vector<LayerSummary>& layers() const { return layers_; }
  int64_t NumParams() const;
  int64_t FlopsPerImage() const;

  // OK if `shape` is (N, input().shape()...); InvalidArgument naming both shapes otherwise.
  absl::Status CheckBatchShape(const Shape& shape) const;

  // Runs a batch of shape (N, input().shape()...), of either dtype: converted to dtype() first
  // (float32 -> float64 exactly; float64 -> float32 rounds). Returns (N, output_shape()...) in
  // dtype(). InvalidArgument naming the expected and the actual shape otherwise.
  absl::StatusOr<AnyTensor> Predict(const AnyTensor& batch) const;
  // The same for float32 batches, with the output as float32 (a float64 model's outputs are
  // rounded to float32: for scores and labels; use the AnyTensor overload for exact values).
  absl::StatusOr<Tensor<float>> Predict(const Tensor<float>& batch) const;

  // The k best entries of one output row, best first; ties go to the lower index. k is clamped to
  // [0, num_outputs()].
  std::vector<Prediction> TopK(const float* row, int64_t k) const;

 private:
  Model(std::string name, InputSpec input, std::vector<std::string> classes,
        std::vector<LayerSummary> layers, DType dtype);
  // Runs the float32 graph on the fast or the reference engine.
  absl::Status RunFloat(const Tensor<float>& batch, Tensor<float>* out) const;

  std::string name_;
  InputSpec input_;
  std::vector<std::string> classes_;
  std::vector<LayerSummary> layers_;
  DType dtype_;
  Shape output_shape_;
  std::variant<Graph<float>, Graph<double>> graph_;
  std::unique_ptr<FastGraph> fast_;  // Null: the reference engine. Refers to graph_.
  std::string engine_description_ = "reference engine";
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_MODEL_H_
