// The benchmark networks, written as the LayerSpec lists a model.json would hold (Theano op and
// attribute names), with seeded random parameters: issue 3's LeNet, CIFAR-VGG and ResNet-18, and
// the model-zoo networks Theano users bring (Lasagne/Recipes modelzoo: VGG-16, GoogLeNet,
// ResNet-50, Inception-v3), written op for op as `theano-serving-import lasagne` writes the
// Recipes code. Every engine of the benchmarks (ours, the reference Graph and the peers) is built
// from one BenchModel, so all run the same weights.
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
  std::string name;                             // as given to MakeBenchModel
  Shape item_shape;                             // (C, H, W) of one image
  std::vector<LayerSpec> specs;                 // as model.json's `layers`
  std::map<std::string, Tensor<float>> params;  // as params.npz: filters unflipped (Theano's)
  std::unique_ptr<Graph<float>> graph;          // the reference graph built from the two above
  int64_t flops_per_image = 0;                  // Σ LayerSummary.flops (a multiply-add is 2)
};

// The benchmark models, in table order: lenet, cifar_vgg, resnet18, vgg16 (3x224x224), googlenet
// (3x224x224), resnet50 (3x224x224), inception_v3 (3x299x299). MakeBenchModel also accepts
//   * "edges", a small net of the Theano padding, pooling and normalization rules the peers'
//     lowering translates (for the harness's smoke test);
//   * "vgg16_small", "googlenet_small", "resnet50_small" (3x64x64) and "inception_v3_small"
//     (3x75x75, the smallest input the architecture takes): the same architectures on small
//     images, for the correctness tests. Only what the image size forces differs: VGG-16's fc6
//     reads 512x2x2 values, GoogLeNet's final average pool (7x7 on the 7x7 map at 224) covers the
//     2x2 map. ResNet-50's final pool, ignore_border=False, already covers any smaller map.
const std::vector<std::string>& BenchModelNames();

// The batch sizes the peers table uses for a model: {1, 32} for lenet and cifar_vgg, {1, 8} for
// resnet18 and the model-zoo networks; {3} for edges, {2} for the _small variants.
std::vector<int64_t> DefaultBatches(absl::string_view model);

// Builds the named network with parameters drawn from a generator seeded by `seed`: conv and
// dense weights He-scaled normal (std sqrt(2 / fan_in); sqrt(1 / fan_in) before tanh), biases
// normal with std 0.05; Lasagne batch norm (gamma, beta, mean, inv_std of shape (C,)) with
// inv_std log-normal around 1 and gamma · inv_std in [0.8, 1.2], so that a conv + batch norm +
// relu keeps the scale of its input through 50 layers (models.cc says where a network departs
// from that, and why). The same name and seed give bit-identical parameters.
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
