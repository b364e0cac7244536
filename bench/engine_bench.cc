// engine_bench: Google Benchmark timings of our engine (FastGraph, 1 thread) against the reference
// Graph, per op family on single-layer graphs and per model (bench/models.h). Reports
// items_per_second (images) and a GFLOPs counter (a rate, so GFLOP/s); it asserts nothing —
// bench_peers checks correctness.
//
//   build/bin/engine_bench [--benchmark_filter=Conv2d] [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench/models.h"
#include "core/fast/fast_graph.h"
#include "core/graph.h"

namespace theano_serving::bench {
namespace {

using nlohmann::json;

enum Engine { kReference = 0, kFast = 1 };

// A graph ready to run: the reference Graph, the FastGraph compiled from it, an input, its cost.
struct Case {
  std::unique_ptr<Graph<float>> graph;
  std::unique_ptr<FastGraph> fast;
  Tensor<float> input;
  int64_t flops = 0;  // per batch
  int64_t batch = 1;
};

Tensor<float> Normal(Shape shape, float stddev, uint64_t seed) {
  Tensor<float> t(std::move(shape));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  for (float& v : t.values()) v = dist(rng);
  return t;
}

// Builds a case from one graph; aborts the benchmark program on a malformed case (a bug here).
std::unique_ptr<Case> Compile(Graph<float> graph, const Shape& item_shape, int64_t batch) {
  auto c = std::make_unique<Case>();
  c->graph = std::make_unique<Graph<float>>(std::move(graph));
  c->batch = batch;
  c->input = RandomInput(item_shape, batch, 7);
  auto summary = c->graph->Describe(c->input.shape());
  auto fast = FastGraph::Compile(*c->graph, item_shape);  // 1 thread, this CPU's ISA.
  if (!summary.ok() || !fast.ok()) {
    std::fprintf(stderr, "engine_bench: bad case: %s %s\n", summary.status().ToString().c_str(),
                 fast.status().ToString().c_str());
    std::abort();
  }
  for (const LayerSummary& s : *summary) c->flops += s.flops;
  c->fast = std::move(*fast);
  return c;
}

// One layer with parameters named p0, p1, ... drawn from N(0, 0.1).
std::unique_ptr<Case> SingleLayer(const std::string& op, json attrs, std::vector<Shape> params,
                                  const Shape& item_shape, int64_t batch) {
  LayerSpec spec;
  spec.op = op;
  spec.attrs = std::move(attrs);
  std::map<std::string, Tensor<float>> values;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = "p" + std::to_string(i);
    spec.params.push_back(name);
    values[name] = Normal(params[i], 0.1f, 11 + i);
  }
  auto graph = Graph<float>::Build(
      {spec}, "input", [&values](const LayerSpec& s) -> absl::StatusOr<std::vector<Tensor<float>>> {
        std::vector<Tensor<float>> out;
        for (const std::string& p : s.params) out.push_back(values.at(p));
        return out;
      });
  if (!graph.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", graph.status().ToString().c_str());
    std::abort();
  }
  return Compile(std::move(*graph), item_shape, batch);
}

void RunCase(benchmark::State& state, const Case& c, int engine) {
  omp_set_num_threads(1);
  Tensor<float> output;
  for (auto _ : state) {
    const absl::Status s =
        engine == kFast ? c.fast->Run(c.input, &output) : c.graph->Run(c.input, &output);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(output.data());
  }
  state.SetItemsProcessed(state.iterations() * c.batch);
  state.counters["GFLOPs"] = benchmark::Counter(
      static_cast<double>(c.flops) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
  state.SetLabel(engine == kFast ? "FastGraph" : "reference");
}

// ---- conv2d: (name, in C, H, W, out O, k, border_mode) ----
struct ConvShape {
  const char* name;
  int64_t c, h, w, o, k;
  const char* border_mode;
};
const ConvShape kConvShapes[] = {
    {"lenet_conv1_1x28x28_20x5x5", 1, 28, 28, 20, 5, "valid"},
    {"lenet_conv2_20x12x12_50x5x5", 20, 12, 12, 50, 5, "valid"},
    {"vgg_conv1_3x32x32_64x3x3", 3, 32, 32, 64, 3, "half"},
    {"conv_64x32x32_64x3x3", 64, 32, 32, 64, 3, "half"},
};

void BM_Conv2d(benchmark::State& state) {
  const ConvShape& s = kConvShapes[state.range(0)];
  static std::map<int64_t, std::unique_ptr<Case>> cache;
  auto& c = cache[state.range(0)];
  if (!c) {
    c = SingleLayer("conv2d", {{"border_mode", s.border_mode}, {"filter_flip", true}},
                    {{s.o, s.c, s.k, s.k}}, {s.c, s.h, s.w}, 1);
  }
  RunCase(state, *c, static_cast<int>(state.range(1)));
  state.SetLabel(std::string(s.name) + (state.range(1) == kFast ? " FastGraph" : " reference"));
}
BENCHMARK(BM_Conv2d)->ArgsProduct({{0, 1, 2, 3}, {kReference, kFast}})->ArgNames({"shape", "fast"});

// ---- pool_2d: LeNet's 2x2 max on 20x24x24; ResNet's 3x3/2 pad 1 max on 64x112x112 ----
void BM_Pool2d(benchmark::State& state) {
  static std::map<int64_t, std::unique_ptr<Case>> cache;
  auto& c = cache[state.range(0)];
  if (!c) {
    c = state.range(0) == 0
            ? SingleLayer("pool_2d", {{"ws", {2, 2}}, {"ignore_border", true}, {"mode", "max"}}, {},
                          {20, 24, 24}, 1)
            : SingleLayer("pool_2d",
                          {{"ws", {3, 3}},
                           {"stride", {2, 2}},
                           {"pad", {1, 1}},
                           {"ignore_border", true},
                           {"mode", "max"}},
                          {}, {64, 112, 112}, 1);
  }
  RunCase(state, *c, static_cast<int>(state.range(1)));
}
BENCHMARK(BM_Pool2d)->ArgsProduct({{0, 1}, {kReference, kFast}})->ArgNames({"shape", "fast"});

// ---- dense 800 → 500 (LeNet's fc1), batch 1 and 32 ----
void BM_Dense(benchmark::State& state) {
  static std::map<int64_t, std::unique_ptr<Case>> cache;
  auto& c = cache[state.range(0)];
  if (!c) c = SingleLayer("dense", json::object(), {{800, 500}, {500}}, {800}, state.range(0));
  RunCase(state, *c, static_cast<int>(state.range(1)));
}
BENCHMARK(BM_Dense)->ArgsProduct({{1, 32}, {kReference, kFast}})->ArgNames({"batch", "fast"});

// ---- tanh over 10 000 elements ----
void BM_Tanh(benchmark::State& state) {
  static std::unique_ptr<Case> c;
  if (!c) c = SingleLayer("tanh", json::object(), {}, {10000}, 1);
  RunCase(state, *c, static_cast<int>(state.range(0)));
  state.SetItemsProcessed(state.iterations() * 10000);  // elements, not images
}
BENCHMARK(BM_Tanh)->Arg(kReference)->Arg(kFast)->ArgName("fast");

// ---- whole models: LeNet b1 / b32, CIFAR-VGG b1 ----
void BM_Model(benchmark::State& state, const char* name) {
  static std::map<std::string, std::unique_ptr<BenchModel>> models;
  static std::map<std::pair<std::string, int64_t>, std::unique_ptr<Case>> cases;
  auto& model = models[name];
  if (!model) {
    auto made = MakeBenchModel(name);
    if (!made.ok()) {
      state.SkipWithError(made.status().ToString().c_str());
      return;
    }
    model = std::move(*made);
  }
  const int64_t batch = state.range(0);
  auto& c = cases[{name, batch}];
  if (!c) {
    // Rebuild the graph from the model's specs and params (a Case owns its graph).
    auto graph = Graph<float>::Build(
        model->specs, "input",
        [&model](const LayerSpec& s) -> absl::StatusOr<std::vector<Tensor<float>>> {
          std::vector<Tensor<float>> out;
          for (const std::string& p : s.params) out.push_back(model->params.at(p));
          return out;
        });
    if (!graph.ok()) {
      state.SkipWithError(graph.status().ToString().c_str());
      return;
    }
    c = Compile(std::move(*graph), model->item_shape, batch);
  }
  RunCase(state, *c, static_cast<int>(state.range(1)));
}
BENCHMARK_CAPTURE(BM_Model, lenet, "lenet")
    ->ArgsProduct({{1, 32}, {kReference, kFast}})
    ->ArgNames({"batch", "fast"});
BENCHMARK_CAPTURE(BM_Model, cifar_vgg, "cifar_vgg")
    ->Args({1, kReference})
    ->Args({1, kFast})
    ->ArgNames({"batch", "fast"})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace theano_serving::bench

BENCHMARK_MAIN();
