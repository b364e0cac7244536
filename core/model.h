// Model: an immutable classifier = preprocessing spec + graph + class labels.
// Made by LoadModel (core/model_loader.h), which validates everything first. All methods are const
// and thread-safe.
#ifndef THEANO_SERVING_CORE_MODEL_H_
#define THEANO_SERVING_CORE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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

class Model {
 public:
  Model(std::string name, InputSpec input, std::vector<std::string> classes, Graph<float> graph,
        std::vector<LayerSummary> layers);

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
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_MODEL_H_
