// The benchmark networks of issue 3, written as the LayerSpec lists a model.json would hold
// (Theano op and attribute names), with seeded random parameters. Every engine of the benchmarks
// (ours, the reference Graph and the peers) is built from one BenchModel, so all run the same
// weights.
#ifndef THEANO_SERVING_BENCH_MODELS_H_
#define THEANO_SERVING_BENCH_MODELS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/graph.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving::bench {

struct BenchModel {
  std::string name;                             // "lenet", "cifar_vgg", "resnet18"
  Shape item_shape;                             // (C, H, W) of one image
  std::vector<LayerSpec> specs;                 // as model.json's `layers`
  std::map<std::string, Tensor<float>> params;  // as params.npz: filters unflipped (Theano's)
  std::unique_ptr<Graph<float>> graph;          // the reference graph built from the two above
  int64_t flops_per_image = 0;                  // Σ LayerSummary.flops (a multiply-add is 2)
};

// The benchmark models, in table order. MakeBenchModel also accepts "edges", a small net of the
// Theano padding and pooling rules the peers' lowering translates (for the harness's smoke test).
const std::vector<std::string>& BenchModelNames();

// The batch sizes issue 3's table uses for a model: {1, 32} for lenet and cifar_vgg, {1, 8} for
// resnet18; {3} for edges.
std::vector<int64_t> DefaultBatches(absl::string_view model);

// Builds the named network with parameters drawn from a generator seeded by `seed`: conv and
// dense weights He-scaled normal (std sqrt(2 / fan_in); sqrt(1 / fan_in) before tanh), biases
// normal with std 0.05. The same name and seed give bit-identical parameters.
// InvalidArgument for an unknown name; any error of Graph::Build or Graph::Describe otherwise.
absl::StatusOr<std::unique_ptr<BenchModel>> MakeBenchModel(absl::string_view name,
                                                           uint64_t seed = 42);

// A seeded uniform [0, 1) input of shape (batch, item_shape...).
Tensor<float> RandomInput(const Shape& item_shape, int64_t batch, uint64_t seed);

// Writes `model` as a model directory (docs/MODEL_FORMAT.md) that LoadModel reads, creating `dir`
// and its parents: dir/model.json holds the name, an input spec of item_shape (grayscale for one
// channel, scale 1/255), `layers` = specs with model.json's keys, and `params` declaring every
// array's shape; dir/params.npz holds `params` (float32, unflipped, as the peers get them). No
// `classes` (the format allows omitting them). `description` records the name and `seed`.
absl::Status WriteModelDir(const BenchModel& model, const std::string& dir, uint64_t seed);

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_MODELS_H_
