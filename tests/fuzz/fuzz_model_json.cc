// Fuzz target: model.json, in memory, the way LoadModel reads it (core/model_loader.cc) minus the
// files: ParseJson → ParseInputSpec(input) → ParseLayerSpecs(layers) → Graph::Build with synthetic
// parameters (the shapes model.json's `params` declares, filled with small values) → Describe for
// the input shape → and, when Describe accepted the shapes and the graph is small, Run on a
// constant input. Describe is the shape validation that kernels rely on ("kernels assume valid
// input", STYLE.md), so a Run that reads out of bounds after a successful Describe is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/graph.h"
#include "core/json_util.h"
#include "core/model_loader.h"
#include "core/preprocess.h"
#include "core/tensor.h"

namespace {

using theano_serving::Graph;
using theano_serving::LayerSpec;
using theano_serving::Shape;
using theano_serving::Tensor;

constexpr int64_t kMaxParamElements = 1 << 16;
constexpr int64_t kMaxInputElements = 1 << 14;
constexpr int64_t kMaxRunFlops = 20'000'000;

// The declared shape of parameter `name` (model.json "params": {"W0": {"shape": [...]}}), if it
// is a list of 1..4 positive integers with a small product; {4} otherwise.
Shape DeclaredShape(const nlohmann::json& config, const std::string& name) {
  const Shape fallback = {4};
  auto params = config.find("params");
  if (params == config.end() || !params->is_object()) return fallback;
  auto p = params->find(name);
  if (p == params->end() || !p->is_object()) return fallback;
  auto shape = p->find("shape");
  if (shape == p->end() || !shape->is_array() || shape->empty() || shape->size() > 4) {
    return fallback;
  }
  Shape out;
  int64_t n = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > kMaxParamElements) {
      return fallback;
    }
    out.push_back(d.get<int64_t>());
    n *= out.back();
    if (n > kMaxParamElements) return fallback;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = theano_serving::ParseJson(text, "model.json");
  if (!config.ok() || !config->is_object()) return 0;

  std::string input_name = "input";
  Shape input_shape;  // (1, input shape...) once known: an image's (C, H, W) or any tensor shape
  if (auto in = config->find("input"); in != config->end()) {
    auto spec = theano_serving::ParseInputSpec(*in);
    if (spec.ok()) {
      input_name = spec->name;
      input_shape = spec->BatchShape(1);
    }
  }
  auto layers_it = config->find("layers");
  if (layers_it == config->end()) return 0;
  auto specs = theano_serving::ParseLayerSpecs(*layers_it);
  if (!specs.ok()) return 0;

  auto source = [&](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<float>>> {
    std::vector<Tensor<float>> out;
    for (const std::string& name : spec.params) {
      Tensor<float> t(DeclaredShape(*config, name));
      for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = 0.01f * static_cast<float>(i % 7 + 1);
      out.push_back(std::move(t));
    }
    return out;
  };
  auto graph = Graph<float>::Build(*std::move(specs), input_name, source);
  if (!graph.ok() || input_shape.empty()) return 0;
  if (theano_serving::NumElements(input_shape) > kMaxInputElements) return 0;
  auto summary = graph->Describe(input_shape);
  if (!summary.ok()) return 0;
  int64_t flops = 0;
  for (const auto& layer : *summary) {
    flops += layer.flops;
    if (theano_serving::NumElements(layer.output_shape) > kMaxInputElements * 64) return 0;
  }
  if (flops > kMaxRunFlops) return 0;
  Tensor<float> input(input_shape);
  for (int64_t i = 0; i < input.size(); ++i) input.data()[i] = 0.5f;
  Tensor<float> output;
  // Describe accepted these shapes, so Run must too (same validation) and must stay in bounds.
  if (!graph->Run(input, &output).ok()) std::abort();
  if (output.shape() != summary->back().output_shape) std::abort();
  return 0;
}
