// bench_export_models: writes the benchmark networks as real model directories, so that the
// offline tool and the server run exactly what bench_peers measures:
//
//   bench_export_models --out_dir=DIR
//       [--models=lenet,cifar_vgg,resnet18,vgg16,googlenet,resnet50,inception_v3] [--seed=42]
//       [--version=1] [--verify] [--stats]
//
// writes DIR/<model>/<version>/{model.json,params.npz} (docs/MODEL_FORMAT.md) from
// MakeBenchModel(model, seed): the same seeded weights bench_peers uses with the same --seed
// (default 42 in both). With --verify (default), each directory is loaded back with LoadModel
// (reference engine) and its output on a random input must equal the in-memory reference Graph's
// bit for bit; any difference, or any load error, exits with status 1. --stats prints, for a
// random input, every layer's output RMS and max |x| (the seeded weights must keep activations
// from exploding or vanishing through 50 layers) and fails unless the output is finite and not
// constant; with --stats, --out_dir may be omitted (nothing is written).
//
//   theano-serving-model bench DIR/resnet18/1 --batch 8 --threads 2 --json
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/models.h"
#include "core/model.h"
#include "core/model_loader.h"
#include "core/status_macros.h"

ABSL_FLAG(std::string, out_dir, "", "model repository to write into (required)");
ABSL_FLAG(std::string, models, "lenet,cifar_vgg,resnet18,vgg16,googlenet,resnet50,inception_v3",
          "models to write, comma-separated");
ABSL_FLAG(uint64_t, seed, 42, "seed of the weights (bench_peers' --seed)");
ABSL_FLAG(int, version, 1, "version folder to write");
ABSL_FLAG(bool, verify, true, "load each directory back and compare with the in-memory graph");
ABSL_FLAG(bool, stats, false,
          "print each layer's output RMS and max |x| on a random input; fail unless the output "
          "is finite and not constant");

namespace theano_serving::bench {
namespace {

// Loads `dir` with the reference engine and checks that it computes exactly what `model`'s
// reference graph computes on a random batch of one.
absl::Status Verify(const BenchModel& model, const std::string& dir) {
  ModelOptions options;
  options.engine = Engine::kReference;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> loaded, LoadModel(dir, "", options));
  const Tensor<float> input = RandomInput(model.item_shape, 1, 7);
  Tensor<float> expected;
  RETURN_IF_ERROR(model.graph->Run(input, &expected));
  ASSIGN_OR_RETURN(Tensor<float> got, loaded->Predict(input));
  if (got.shape() != expected.shape() ||
      std::memcmp(got.data(), expected.data(), sizeof(float) * expected.values().size()) != 0) {
    return absl::InternalError(
        absl::StrCat(dir, ": the loaded model's output ", ShapeToString(got.shape()),
                     " differs from the in-memory graph's ", ShapeToString(expected.shape())));
  }
  if (loaded->FlopsPerImage() != model.flops_per_image) {
    return absl::InternalError(absl::StrCat(dir, ": ", loaded->FlopsPerImage(),
                                            " FLOP per image, the in-memory graph has ",
                                            model.flops_per_image));
  }
  return absl::OkStatus();
}

// Every layer's output on a random batch of one: RMS and max |x|, one line each; then the
// output's range. InternalError if the output has a NaN or infinity or is constant.
absl::Status PrintStats(const BenchModel& model) {
  const Tensor<float> input = RandomInput(model.item_shape, 1, 7);
  Tensor<float> output;
  std::vector<Tensor<float>> layers;
  RETURN_IF_ERROR(model.graph->Run(input, &output, &layers));
  for (size_t i = 0; i < layers.size(); ++i) {
    double sum_sq = 0.0, max_abs = 0.0;
    for (float v : layers[i].values()) {
      sum_sq += double{v} * v;
      max_abs = std::max(max_abs, std::fabs(double{v}));
    }
    const LayerSpec& spec = model.specs[i];
    std::printf("  %3zu %-34s %-28s %-18s rms %10.4g  max|x| %10.4g\n", i, spec.name.c_str(),
                spec.op.c_str(), ShapeToString(layers[i].shape()).c_str(),
                std::sqrt(sum_sq / static_cast<double>(std::max<int64_t>(1, layers[i].size()))),
                max_abs);
  }
  float lo = output.data()[0], hi = lo;
  for (float v : output.values()) {
    if (!std::isfinite(v)) return absl::InternalError(model.name + ": the output is not finite");
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  std::printf("  output %s: min %.4g, max %.4g\n", ShapeToString(output.shape()).c_str(), lo, hi);
  if (!(hi > lo)) return absl::InternalError(model.name + ": the output is constant");
  return absl::OkStatus();
}

absl::Status ExportAll() {
  const std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  const bool stats = absl::GetFlag(FLAGS_stats);
  if (out_dir.empty() && !stats) return absl::InvalidArgumentError("--out_dir is required");
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    ASSIGN_OR_RETURN(std::unique_ptr<BenchModel> model, MakeBenchModel(name, seed));
    if (stats) {
      std::printf("%s: %s, %zu layers, %.3f GFLOP per image\n", model->name.c_str(),
                  ShapeToString(model->item_shape).c_str(), model->specs.size(),
                  static_cast<double>(model->flops_per_image) / 1e9);
      RETURN_IF_ERROR(PrintStats(*model));
      std::fflush(stdout);
      if (out_dir.empty()) continue;
    }
    const std::string dir = absl::StrCat(out_dir, "/", name, "/", absl::GetFlag(FLAGS_version));
    RETURN_IF_ERROR(WriteModelDir(*model, dir, seed));
    int64_t scalars = 0;
    for (const auto& entry : model->params) scalars += entry.second.size();
    std::printf("%s: %zu layers, %lld parameters, %.3f GFLOP per image", dir.c_str(),
                model->specs.size(), static_cast<long long>(scalars),
                static_cast<double>(model->flops_per_image) / 1e9);
    if (absl::GetFlag(FLAGS_verify)) {
      RETURN_IF_ERROR(Verify(*model, dir));
      std::printf("; loads and matches the in-memory graph exactly");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace theano_serving::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "bench_export_models --out_dir=DIR [--models=lenet,cifar_vgg,...] [--seed=42] [--stats]: "
      "writes DIR/<model>/<version>/{model.json,params.npz} with bench_peers' weights");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = theano_serving::bench::ExportAll();
  if (!status.ok()) {
    std::fprintf(stderr, "bench_export_models: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
