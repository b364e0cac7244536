// Differential tests of the fast engine (core/fast) against the reference engine (core/ops) on
// seeded random graphs: every conv2d form, pool mode, dense layout, fusion pattern and fallback,
// batch sizes on both sides of the small-batch dense path, 1 and 2 intra-op threads, and the
// portable kernels. Tolerance: the golden one (atol 1e-5, rtol 1e-4).
#include "core/fast/fast_graph.h"

#include <malloc.h>

#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "core/graph.h"
#include "core/model_loader.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/isa_test.h"

namespace theano_serving {
namespace {

using nlohmann::json;

// A graph plus the parameters it was built from.
struct TestGraph {
  std::map<std::string, Tensor<float>> params;
  std::unique_ptr<Graph<float>> graph;
};

Tensor<float> RandomTensor(const Shape& shape, std::mt19937* rng, float scale = 1.0f) {
  Tensor<float> t(shape);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = u(*rng);
  return t;
}

// `layers` is model.json's list; `param_shapes` gives every parameter's shape.
// Parameters named in `positive` (variances) are drawn from [0.5, 2).
absl::StatusOr<TestGraph> MakeGraph(const json& layers, const std::map<std::string, Shape>& shapes,
                                    std::mt19937* rng, const std::set<std::string>& positive = {}) {
  TestGraph g;
  for (const auto& [name, shape] : shapes) {
    int64_t fan_in = 1;
    for (size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
    if (shape.size() == 2) fan_in = shape[0];
    g.params[name] = RandomTensor(shape, rng, 1.5f / std::sqrt(static_cast<float>(fan_in)));
    if (positive.count(name)) {
      for (float& v : g.params[name].values()) v = 1.25f + v;
    }
  }
  auto specs = ParseLayerSpecs(layers);
  if (!specs.ok()) return specs.status();
  auto source = [&g](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<float>>> {
    std::vector<Tensor<float>> out;
    for (const std::string& p : spec.params) out.push_back(g.params.at(p));
    return out;
  };
  auto graph = Graph<float>::Build(*std::move(specs), "input", source);
  if (!graph.ok()) return graph.status();
  g.graph = std::make_unique<Graph<float>>(*std::move(graph));
  return g;
}

// The options every compile of a test starts from: the instruction set under test (the ISA
// fixture's isa()) and, when slice_bytes > 0, reductions cut into slices of that many bytes.
FastOptions IsaOptions(Isa isa, int64_t slice_bytes = 0) {
  FastOptions options;
  options.isa = isa;
  options.reduction_slice_bytes = slice_bytes;
  return options;
}

// Runs both engines on a random batch and compares. Returns false (with a message) on mismatch.
// `base` gives the ISA and reduction slices; block_max_bytes > 0 cuts runs of blockable steps
// into image blocks of at most that many bytes per image every time.
void ExpectSameAsReference(const Graph<float>& graph, const Shape& item, int64_t batch, int threads,
                           const FastOptions& base, std::mt19937* rng, const std::string& what,
                           int64_t block_max_bytes = 0) {
  Shape shape = {batch};
  shape.insert(shape.end(), item.begin(), item.end());
  const Tensor<float> input = RandomTensor(shape, rng);
  Tensor<float> want, got;
  ASSERT_TRUE(graph.Run(input, &want).ok()) << what;
  // Every plan three times: with stride-1 convolutions planar (pixels in lanes, NCHW, the pools
  // after them planar too), in channel blocks (NHWC), and as PreferPlanar decides. In channel
  // blocks, every other time the 3x3 stride-1 convs all run as Winograd F(2x2, 3x3) (unless `base`
  // chooses).
  for (FastOptions::PlanarConv planar :
       {FastOptions::PlanarConv::kAlways, FastOptions::PlanarConv::kNever,
        FastOptions::PlanarConv::kAuto}) {
    FastOptions options = base;
    options.threads = threads;
    // With 2 threads, even these small graphs take the parallel paths.
    options.parallelize_any_size = threads > 1;
    options.planar_conv = planar;
    if (planar == FastOptions::PlanarConv::kNever &&
        base.winograd == FastOptions::Winograd::kAuto && (*rng)() % 2 == 0) {
      options.winograd = FastOptions::Winograd::kAlways;
    }
    // Image blocks run in groups of random sizes (one image to all) every other time, and every
    // third time runs of blockable steps are cut into blocks of a few KiB per image.
    if ((*rng)() % 2 == 0) options.image_block_bytes = 1 + (*rng)() % (64 << 10);
    if (block_max_bytes > 0) {
      options.image_block_max_bytes = block_max_bytes;
    } else if ((*rng)() % 3 == 0) {
      options.image_block_max_bytes = 1 + (*rng)() % (16 << 10);
    }
    auto fast = FastGraph::Compile(graph, item, options);
    ASSERT_TRUE(fast.ok()) << what << ": " << fast.status();
    // Twice: the second run reuses the workspace (stale buffers must not leak into results).
    // The second run is the profiling one (RunTimed: blocks group by group on one thread).
    for (int round = 0; round < 2; ++round) {
      std::vector<double> seconds;
      ASSERT_TRUE(
          (round == 0 ? (*fast)->Run(input, &got) : (*fast)->RunTimed(input, &got, &seconds)).ok())
          << what;
      ASSERT_EQ(got.shape(), want.shape()) << what;
      double worst = 0;
      int64_t worst_at = -1;
      for (int64_t i = 0; i < want.size(); ++i) {
        const double d = std::fabs(double(got.data()[i]) - double(want.data()[i]));
        const double excess = d - (1e-5 + 1e-4 * std::fabs(double(want.data()[i])));
        if (!(excess <= worst) || std::isnan(got.data()[i]) != std::isnan(want.data()[i])) {
          worst = excess;
          worst_at = i;
        }
      }
      ASSERT_LT(worst_at, 0) << what << ", batch " << batch << ", threads " << threads
                             << ": element " << worst_at << " fast " << got.data()[worst_at]
                             << " reference " << want.data()[worst_at] << "\n"
                             << (*fast)->Describe();
    }
  }
}

json Conv(const json& border_mode, int sh, int sw, int dh, int dw, int groups, bool flip,
          const std::string& w) {
  return {{"op", "conv2d"},
          {"attrs",
           {{"border_mode", border_mode},
            {"subsample", {sh, sw}},
            {"filter_dilation", {dh, dw}},
            {"num_groups", groups},
            {"filter_flip", flip}}},
          {"params", {w}}};
}

// border_mode number `which`: "valid", "full", "half", or (3) explicit pads of 0 to max_pad
// drawn from `rng`.
json RandomBorderMode(int which, int max_pad, std::mt19937* rng) {
  switch (which) {
    case 0:
      return "valid";
    case 1:
      return "full";
    case 2:
      return "half";
    default:
      break;
  }
  std::uniform_int_distribution<int> pad(0, max_pad);
  const int ph = pad(*rng);
  return {ph, pad(*rng)};
}

// Every TEST_P runs once per kernel instruction set this CPU has (tests/unit/isa_test.h).
class FastGraphIsaTest : public FastIsaTest {};
INSTANTIATE_TEST_SUITE_P(Isa, FastGraphIsaTest, IsaValues(), IsaName);

TEST_P(FastGraphIsaTest, RandomConvolutionsWithFusedEpiloguesMatchTheReference) {
  std::mt19937 rng(20261126 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* activations[] = {"relu", "tanh", "sigmoid", "softplus", "elu"};
  int tested = 0;
  for (int trial = 0; tested < 120 && trial < 2000; ++trial) {
    const int groups = pick(1, 3);
    const int c = groups * pick(1, 4), o = groups * pick(1, 9);
    const int kh = pick(1, 5), kw = pick(1, 5);
    const int h = pick(3, 13), w = pick(3, 13);
    const json border = RandomBorderMode(pick(0, 3), 3, &rng);
    json layers = json::array();
    layers.push_back(
        Conv(border, pick(1, 3), pick(1, 3), pick(1, 2), pick(1, 2), groups, pick(0, 1), "W"));
    std::map<std::string, Shape> shapes = {{"W", {o, c / groups, kh, kw}}};
    const int tail = pick(0, 3);
    if (tail == 1 || tail == 3) {  // conv + bias (+ activation): fused into the conv.
      layers.push_back({{"op", "bias_add"}, {"attrs", {{"axis", 1}}}, {"params", {"b"}}});
      shapes["b"] = {o};
    }
    if (tail >= 2) {
      layers.push_back({{"op", activations[pick(0, 4)]}});
    }
    if (pick(0, 2) == 0) {  // The LeNet pattern: conv, max pool, bias (moved up), activation.
      layers.push_back(
          {{"op", "pool_2d"}, {"attrs", {{"ws", {2, 2}}, {"ignore_border", pick(0, 1) == 1}}}});
      layers.push_back({{"op", "bias_add"}, {"params", {"b2"}}});
      layers.push_back({{"op", activations[pick(0, 2)]}});
      shapes["b2"] = {o};
    }
    auto g = MakeGraph(layers, shapes, &rng);
    ASSERT_TRUE(g.ok()) << g.status();
    const Shape item = {c, h, w};
    if (!g->graph->Describe(Shape{1, c, h, w}).ok()) continue;  // Impossible output shape.
    const int64_t batch = pick(1, 9);
    // Every other graph runs its reductions in slices of 1 to 8 steps (partial sums parked in the
    // output between slices).
    const bool sliced = trial % 2 == 1;
    const int64_t slice_bytes = sliced ? 4 * 64 * pick(1, 8) : 0;
    ExpectSameAsReference(*g->graph, item, batch, pick(1, 2), IsaOptions(isa(), slice_bytes), &rng,
                          absl::StrCat(layers.dump(), sliced ? " (sliced)" : ""));
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_EQ(tested, 120);
}

TEST_P(FastGraphIsaTest, EveryPoolModeMatchesTheReference) {
  std::mt19937 rng(7 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* modes[] = {"max", "sum", "average_inc_pad", "average_exc_pad"};
  int tested = 0;
  for (int trial = 0; trial < 80; ++trial) {
    const bool ignore_border = pick(0, 1) == 1;
    const int wsh = pick(1, 4), wsw = pick(1, 4);
    json attrs = {{"ws", {wsh, wsw}},
                  {"stride", {pick(1, 4), pick(1, 4)}},
                  {"ignore_border", ignore_border},
                  {"mode", modes[trial % 4]}};
    if (ignore_border) attrs["pad"] = {pick(0, wsh - 1), pick(0, wsw - 1)};
    // With a conv in front the pool takes the conv's layout (NHWC, or planar NCHW); without one
    // it pools the NCHW input as planes.
    json layers = {Conv("valid", 1, 1, 1, 1, 1, true, "W"), {{"op", "pool_2d"}, {"attrs", attrs}}};
    if (trial % 3 == 2) layers.erase(layers.begin());
    const int c = pick(1, 11);
    auto g = MakeGraph(layers, {{"W", {c, 2, 1, 1}}}, &rng);
    ASSERT_TRUE(g.ok()) << g.status();
    const Shape item = {2, pick(1, 12), pick(1, 12)};
    if (!g->graph->Describe(Shape{1, 2, item[1], item[2]}).ok()) continue;
    ExpectSameAsReference(*g->graph, item, pick(1, 4), pick(1, 2), IsaOptions(isa()), &rng,
                          layers.dump());
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_GT(tested, 40);
}

// Pool windows wider than the vector paths take (stride 2 with more than 32 columns), on NCHW
// input (planar pooling) and after a conv (NHWC or planar).
TEST_P(FastGraphIsaTest, WidePoolWindowsMatchTheReference) {
  std::mt19937 rng(19 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* modes[] = {"max", "sum", "average_inc_pad", "average_exc_pad"};
  for (int trial = 0; trial < 16; ++trial) {
    // Every other trial: stride 2 and 33-36 columns, just past the de-interleaving path.
    const bool wide = trial % 4 < 2;
    const int wsw = wide ? pick(33, 36) : pick(14, 32);
    json attrs = {{"ws", {pick(1, 2), wsw}},
                  {"stride", {1, wide ? 2 : pick(1, 2)}},
                  {"ignore_border", pick(0, 1) == 1},
                  {"mode", modes[trial % 4]}};
    json layers = {Conv("valid", 1, 1, 1, 1, 1, true, "W"), {{"op", "pool_2d"}, {"attrs", attrs}}};
    if (trial % 2 == 0) layers.erase(layers.begin());
    auto g = MakeGraph(layers, {{"W", {3, 2, 1, 1}}}, &rng);
    ASSERT_TRUE(g.ok()) << g.status();
    const Shape item = {2, pick(2, 4), pick(wsw, 70)};
    ASSERT_TRUE(g->graph->Describe(Shape{1, 2, item[1], item[2]}).ok()) << layers.dump();
    ExpectSameAsReference(*g->graph, item, pick(1, 3), pick(1, 2), IsaOptions(isa()), &rng,
                          layers.dump());
    if (HasFatalFailure()) return;
  }
}

// Planar chains: conv, pool (any mode, window and stride, written straight into the next conv's
// shifted copies), bias and activation, conv with any padding and dilation; on images narrower
// and wider than a 16-pixel vector.
TEST_P(FastGraphIsaTest, PlanarConvPoolConvChainsMatchTheReference) {
  std::mt19937 rng(17 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* modes[] = {"max", "sum", "average_inc_pad", "average_exc_pad"};
  const char* activations[] = {"relu", "tanh", "sigmoid"};
  int tested = 0;
  for (int trial = 0; tested < 40 && trial < 400; ++trial) {
    const int c = pick(1, 3), o1 = pick(1, 9), o2 = pick(1, 13);
    const bool ignore_border = pick(0, 1) == 1;
    const int wsh = pick(1, 3), wsw = pick(1, 3);
    json pool = {{"ws", {wsh, wsw}},
                 {"stride", {pick(1, 3), pick(1, 2)}},
                 {"ignore_border", ignore_border},
                 {"mode", modes[pick(0, 3)]}};
    if (ignore_border) pool["pad"] = {pick(0, wsh - 1), pick(0, wsw - 1)};
    if (trial % 2 == 0) {  // LeNet's pool (2x2 max, fused with the shift on AVX-512).
      pool = {{"ws", {2, 2}}, {"ignore_border", ignore_border}, {"mode", "max"}};
    }
    json border2 = pick(0, 1) == 0 ? json("valid") : json({pick(0, 2), pick(0, 2)});
    json layers = {Conv("valid", 1, 1, 1, 1, 1, pick(0, 1) == 1, "W1"),
                   {{"op", "pool_2d"}, {"attrs", pool}},
                   {{"op", "bias_add"}, {"params", {"b1"}}},
                   {{"op", activations[pick(0, 2)]}},
                   Conv(border2, 1, 1, pick(1, 2), pick(1, 2), 1, true, "W2"),
                   {{"op", "bias_add"}, {"params", {"b2"}}}};
    const int k1 = pick(1, 4), k2 = pick(1, 4);
    auto g = MakeGraph(
        layers,
        {{"W1", {o1, c, k1, k1}}, {"b1", {o1}}, {"W2", {o2, o1, k2, pick(1, 4)}}, {"b2", {o2}}},
        &rng);
    ASSERT_TRUE(g.ok()) << g.status();
    const Shape item = {c, pick(4, 40), pick(4, 40)};
    if (!g->graph->Describe(Shape{1, c, item[1], item[2]}).ok()) continue;
    ExpectSameAsReference(*g->graph, item, pick(1, 5), pick(1, 2), IsaOptions(isa()), &rng,
                          layers.dump());
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_EQ(tested, 40);
}

// LeNet-shaped: flatten of an NHWC image feeds dense (rows permuted at load), both dense block
// widths (batch below and above the small-batch cut), tanh fused, softmax by the reference.
TEST_P(FastGraphIsaTest, DenseAfterFlattenOfAnImageMatchesTheReference) {
  std::mt19937 rng(11);
  json layers = {Conv("valid", 1, 1, 1, 1, 1, true, "W0"),
                 {{"op", "pool_2d"}, {"attrs", {{"ws", {2, 2}}, {"ignore_border", true}}}},
                 {{"op", "bias_add"}, {"params", {"b0"}}},
                 {{"op", "tanh"}},
                 {{"op", "flatten"}, {"attrs", {{"ndim", 2}}}},
                 {{"op", "dense"}, {"params", {"W1", "b1"}}},
                 {{"op", "tanh"}},
                 {{"op", "dense"}, {"params", {"W2", "b2"}}},
                 {{"op", "softmax"}}};
  auto g = MakeGraph(layers,
                     {{"W0", {7, 3, 3, 3}},
                      {"b0", {7}},
                      {"W1", {7 * 4 * 5, 37}},
                      {"b1", {37}},
                      {"W2", {37, 10}},
                      {"b2", {10}}},
                     &rng);
  ASSERT_TRUE(g.ok()) << g.status();
  for (int64_t batch : {1, 2, 5, 6, 7, 13, 32}) {
    for (int threads : {1, 2}) {
      ExpectSameAsReference(*g->graph, {3, 10, 12}, batch, threads, IsaOptions(isa()), &rng,
                            "lenet-like");
      if (HasFatalFailure()) return;
    }
  }
}

// Residual blocks (add + relu fused), concatenate and batch norm through the reference fallback,
// a dense on a plain 2-D input, and an element-wise op only the reference computes.
TEST_P(FastGraphIsaTest, ResidualConcatenateBatchNormAndFallbacksMatchTheReference) {
  std::mt19937 rng(13);
  json layers = {
      {{"name", "c1"}, {"op", "conv2d"}, {"attrs", {{"border_mode", "half"}}}, {"params", {"W1"}}},
      {{"name", "r1"}, {"op", "relu"}},
      {{"name", "c2"}, {"op", "conv2d"}, {"attrs", {{"border_mode", "half"}}}, {"params", {"W2"}}},
      {{"name", "sum"}, {"op", "add"}, {"inputs", {"c2", "c1"}}},
      {{"name", "r2"}, {"op", "relu"}},
      {{"name", "cat"}, {"op", "concatenate"}, {"attrs", {{"axis", 1}}}, {"inputs", {"r2", "r1"}}},
      {{"op", "batch_normalization_test"},
       {"params", {"gamma", "beta", "mean", "var"}},
       {"attrs", {{"axes", "spatial"}}}},
      {{"op", "softplus"}},
      {{"op", "pool_2d"},
       {"attrs",
        {{"ws", {3, 3}},
         {"stride", {2, 2}},
         {"pad", {1, 1}},
         {"ignore_border", true},
         {"mode", "average_exc_pad"}}}},
      {{"op", "flatten"}, {"attrs", {{"ndim", 2}}}},
      {{"op", "dense"}, {"params", {"Wd", "bd"}}},
      {{"op", "sigmoid"}}};
  std::map<std::string, Shape> shapes = {{"W1", {8, 3, 3, 3}},     {"W2", {8, 8, 3, 3}},
                                         {"gamma", {1, 16, 1, 1}}, {"beta", {1, 16, 1, 1}},
                                         {"mean", {1, 16, 1, 1}},  {"var", {1, 16, 1, 1}},
                                         {"Wd", {16 * 4 * 5, 9}},  {"bd", {9}}};
  auto g = MakeGraph(layers, shapes, &rng, {"var"});
  ASSERT_TRUE(g.ok()) << g.status();
  for (int64_t batch : {1, 3, 8}) {
    ExpectSameAsReference(*g->graph, {3, 8, 9}, batch, 1 + static_cast<int>(batch % 2),
                          IsaOptions(isa()), &rng, "residual");
    if (HasFatalFailure()) return;
  }
}

// Residual sums fused into the conv that completes them (ConvTask::residual): ResNet-style blocks
// of random shape whose second conv (+ bias) is added to the block's input, to a conv computed
// earlier, or to a projection conv computed after it (which then carries the sum), in either
// operand order, with or without an activation after the sum, and reductions in random slices.
TEST_P(FastGraphIsaTest, ResidualSumsFusedIntoConvsMatchTheReference) {
  std::mt19937 rng(4242 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* activations[] = {"", "relu", "tanh", "sigmoid"};
  for (int trial = 0; trial < 40; ++trial) {
    const int c = pick(1, 20), o = pick(1, 20);
    int h = pick(3, 11), w = pick(3, 11);
    const int stride = pick(1, 2);
    // A stride-2 projection may be a 2x2 "valid" conv (on even sizes, the block's output size),
    // grouped on every other such trial: it reads the block input inside the padded buffer of
    // the block's first conv, with taps a row of that buffer apart (merged or per column).
    const int proj_k = stride == 2 ? pick(1, 2) : 1;
    if (proj_k == 2) h += h % 2, w += w % 2;
    const bool bias = pick(0, 1) == 1, skip_first = pick(0, 1) == 1;
    // 0: the skip is the input (c == o, stride 1); 1: a conv computed before the block; 2: a
    // projection conv computed after the block's convs.
    const int skip_kind = stride == 2 ? 2 : pick(0, 2);
    json layers = json::array();
    std::map<std::string, Shape> shapes;
    const int in_c = skip_kind == 0 ? o : c;
    std::string skip = "input";
    if (skip_kind == 1) {
      layers.push_back(Conv("half", 1, 1, 1, 1, 1, true, "W0"));
      layers.back()["name"] = "stem";
      shapes["W0"] = {o, c, 3, 3};
      skip = "stem";
    }
    const int block_in = skip_kind == 1 ? o : in_c;
    json a = Conv("half", stride, stride, 1, 1, 1, pick(0, 1) == 1, "Wa");
    a["inputs"] = {skip};
    a["name"] = "a";
    layers.push_back(a);
    layers.push_back({{"name", "ar"}, {"op", "relu"}});
    layers.push_back(Conv("half", 1, 1, 1, 1, 1, pick(0, 1) == 1, "Wb"));
    layers.back()["name"] = "b";
    shapes["Wa"] = {o, block_in, 3, 3};
    shapes["Wb"] = {o, o, 3, 3};
    std::string main = "b";
    if (bias) {
      layers.push_back({{"name", "bb"}, {"op", "bias_add"}, {"params", {"b"}}});
      shapes["b"] = {o};
      main = "bb";
    }
    if (skip_kind == 2) {
      const int groups = proj_k == 2 && block_in % 2 == 0 && o % 2 == 0 ? pick(1, 2) : 1;
      json p = Conv("valid", stride, stride, 1, 1, groups, true, "Wp");
      p["inputs"] = {skip};
      p["name"] = "proj";
      layers.push_back(p);
      shapes["Wp"] = {o, block_in / groups, proj_k, proj_k};
      skip = "proj";
    }
    layers.push_back({{"name", "sum"},
                      {"op", "add"},
                      {"inputs", skip_first ? json{skip, main} : json{main, skip}}});
    const std::string act = activations[pick(0, 3)];
    if (!act.empty()) layers.push_back({{"op", act}});
    auto g = MakeGraph(layers, shapes, &rng);
    ASSERT_TRUE(g.ok()) << g.status() << "\n" << layers.dump();
    const bool sliced = trial % 2 == 1;
    const int64_t slice_bytes = sliced ? 4 * 64 * pick(1, 8) : 0;
    ExpectSameAsReference(*g->graph, {in_c, h, w}, pick(1, 9), pick(1, 2),
                          IsaOptions(isa(), slice_bytes), &rng, layers.dump());
    if (HasFatalFailure()) return;
    // The sum is fused somewhere unless every conv went planar.
    auto fast = FastGraph::Compile(*g->graph, {in_c, h, w}, IsaOptions(isa()));
    ASSERT_TRUE(fast.ok()) << fast.status();
    if ((*fast)->Describe().find("NHWC") != std::string::npos) {
      EXPECT_NE((*fast)->Describe().find("+ residual"), std::string::npos) << (*fast)->Describe();
    }
  }
}

// Winograd F(2x2, 3x3) convs (FastOptions::winograd kAlways) of random channel counts (below,
// at and above a vector and a block), image sizes (odd ones end in partial tiles) and padding,
// with every epilogue (bias, batch norm, residual, each activation), reading and writing frames
// (two convs writing their slices of a concatenation inside the padded input of a third), on
// batches of 1-5, 1 and 2 threads, the reduction whole or in slices.
TEST_P(FastGraphIsaTest, WinogradConvsMatchTheReference) {
  std::mt19937 rng(20261205 + GetParam());
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* activations[] = {"", "relu", "tanh", "sigmoid", "elu"};
  int tested = 0;
  for (int trial = 0; tested < 40 && trial < 400; ++trial) {
    const int kind = trial % 4;
    int c = pick(1, 40), o = pick(1, 70);
    const int h = pick(1, 17), w = pick(1, 17);
    const json border = RandomBorderMode(kind == 0 ? pick(0, 3) : 2, 2, &rng);
    json layers = json::array();
    std::map<std::string, Shape> shapes;
    std::set<std::string> positive;
    if (kind == 2) {
      // Two convs into a concatenation that a third conv reads through its padding.
      const int o2 = pick(1, 40);
      for (const char* name : {"x1", "x2"}) {
        json conv = Conv("half", 1, 1, 1, 1, 1, pick(0, 1) == 1, absl::StrCat("W", name));
        conv["name"] = name;
        conv["inputs"] = {"input"};
        layers.push_back(conv);
        layers.push_back({{"name", absl::StrCat(name, "r")}, {"op", "relu"}});
      }
      shapes["Wx1"] = {o, c, 3, 3};
      shapes["Wx2"] = {o2, c, 3, 3};
      layers.push_back({{"name", "cat"},
                        {"op", "concatenate"},
                        {"attrs", {{"axis", 1}}},
                        {"inputs", {"x1r", "x2r"}}});
      c = o + o2;
      o = pick(1, 70);
    }
    layers.push_back(Conv(border, 1, 1, 1, 1, 1, pick(0, 1) == 1, "W"));
    layers.back()["name"] = "conv";
    shapes["W"] = {o, c, 3, 3};
    std::string last = "conv";
    if (pick(0, 2) > 0) {
      layers.push_back({{"name", "bias"}, {"op", "bias_add"}, {"params", {"b"}}});
      shapes["b"] = {o};
      last = "bias";
    }
    if (pick(0, 1) == 1) {
      layers.push_back({{"name", "bn"},
                        {"op", "batch_norm_inv_std"},
                        {"params", {"gamma", "beta", "mean", "inv_std"}}});
      for (const char* p : {"gamma", "beta", "mean", "inv_std"}) shapes[p] = {o};
      positive.insert("inv_std");
      last = "bn";
    }
    if (kind == 1) {
      // A residual sum with a second conv's output (same shape), fused into the later conv.
      json other = Conv(border, 1, 1, 1, 1, 1, true, "Wr");
      other["name"] = "other";
      other["inputs"] = {"input"};
      layers.insert(layers.begin(), other);
      layers[1]["inputs"] = {"input"};
      shapes["Wr"] = {o, c, 3, 3};
      layers.push_back({{"name", "sum"}, {"op", "add"}, {"inputs", {last, "other"}}});
      last = "sum";
    }
    const std::string act = activations[pick(0, 4)];
    if (!act.empty()) layers.push_back({{"op", act}});
    if (kind == 3) {
      // A second Winograd conv reading the first's output through its padding.
      layers.push_back(Conv("half", 1, 1, 1, 1, 1, true, "W2"));
      shapes["W2"] = {pick(1, 40), o, 3, 3};
    }
    auto g = MakeGraph(layers, shapes, &rng, positive);
    ASSERT_TRUE(g.ok()) << g.status() << "\n" << layers.dump();
    const Shape item = {kind == 2 ? static_cast<int64_t>(shapes["Wx1"][1]) : c, h, w};
    if (!g->graph->Describe(Shape{1, item[0], h, w}).ok()) continue;  // Impossible output shape.
    FastOptions options = IsaOptions(isa(), trial % 3 == 0 ? 4 * 64 * pick(1, 8) : 0);
    options.winograd = FastOptions::Winograd::kAlways;
    {
      FastOptions nhwc = options;
      nhwc.planar_conv = FastOptions::PlanarConv::kNever;
      auto fast = FastGraph::Compile(*g->graph, item, nhwc);
      ASSERT_TRUE(fast.ok()) << fast.status();
      EXPECT_NE((*fast)->Describe().find("Winograd"), std::string::npos) << (*fast)->Describe();
    }
    ExpectSameAsReference(*g->graph, item, pick(1, 5), pick(1, 2), options, &rng, layers.dump());
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_EQ(tested, 40);
}

// Image blocks cut at every size: some hold only values read after the block (a conv whose
// output is also a later residual, and the conv that feeds the next block), so they need no
// per-thread scratch at all.
TEST_P(FastGraphIsaTest, ImageBlocksCutAtAnySizeMatchTheReference) {
  std::mt19937 rng(7);
  json stem = Conv("half", 1, 1, 1, 1, 1, true, "W0");
  stem["name"] = "stem";
  json a = Conv("half", 1, 1, 1, 1, 1, true, "Wa");
  a["name"] = "a";
  json b = Conv("half", 1, 1, 1, 1, 1, true, "Wb");
  b["name"] = "b";
  const json layers =
      json::array({stem, a, {{"op", "relu"}}, b, {{"op", "add"}, {"inputs", {"b", "stem"}}}});
  auto g = MakeGraph(
      layers, {{"W0", {19, 17, 3, 3}}, {"Wa", {19, 19, 3, 3}}, {"Wb", {19, 19, 3, 3}}}, &rng);
  ASSERT_TRUE(g.ok()) << g.status();
  for (int64_t kib = 1; kib <= 24; ++kib) {
    for (int threads : {1, 2}) {
      ExpectSameAsReference(*g->graph, {17, 6, 8}, 6, threads, IsaOptions(isa()), &rng,
                            absl::StrCat("image blocks of at most ", kib, " KiB per image"),
                            kib << 10);
      if (HasFatalFailure()) return;
    }
  }
}

// RGB images wider than a vector: NCHW -> NHWC interleaves 16 pixels at a time (AVX-512), into
// the padded buffer of the conv that reads it, with a scalar tail.
TEST_P(FastGraphIsaTest, RgbImagesWiderThanAVectorMatchTheReference) {
  std::mt19937 rng(99);
  for (const char* border : {"valid", "half"}) {
    auto g = MakeGraph(json::array({Conv(border, 1, 1, 1, 1, 1, true, "W")}), {{"W", {5, 3, 3, 3}}},
                       &rng);
    ASSERT_TRUE(g.ok()) << g.status();
    for (int64_t w : {16, 37}) {
      ExpectSameAsReference(*g->graph, {3, 4, w}, 2, 1, IsaOptions(isa()), &rng,
                            absl::StrCat(border, " width ", w));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(FastGraphTest, RejectsOtherInputShapesAndHandlesAnEmptyBatch) {
  std::mt19937 rng(19);
  auto g = MakeGraph(json::array({Conv("valid", 1, 1, 1, 1, 1, true, "W")}), {{"W", {2, 1, 3, 3}}},
                     &rng);
  ASSERT_TRUE(g.ok());
  auto fast = FastGraph::Compile(*g->graph, {1, 5, 5});
  ASSERT_TRUE(fast.ok());
  Tensor<float> out;
  absl::Status s = (*fast)->Run(Tensor<float>(Shape{2, 1, 5, 6}), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("(2, 1, 5, 6)"), std::string::npos) << s;
  ASSERT_TRUE((*fast)->Run(Tensor<float>(Shape{0, 1, 5, 5}), &out).ok());
  EXPECT_EQ(out.shape(), (Shape{0, 2, 3, 3}));
  FastOptions no_threads;
  no_threads.threads = 0;
  EXPECT_EQ(FastGraph::Compile(*g->graph, {1, 5, 5}, no_threads).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Options are per graph: checked at Compile (the message names the option), the ISA resolved to
// this CPU's when unset, and graphs compiled with different ISAs run side by side.
TEST(FastGraphTest, OptionsAreCheckedAndKeptPerGraph) {
  std::mt19937 rng(31);
  auto g = MakeGraph(json::array({Conv("valid", 1, 1, 1, 1, 1, true, "W"), {{"op", "tanh"}}}),
                     {{"W", {20, 1, 3, 3}}}, &rng);
  ASSERT_TRUE(g.ok());
  FastOptions bad;
  bad.image_block_bytes = 0;
  absl::Status s = FastGraph::Compile(*g->graph, {1, 9, 9}, bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("image_block_bytes"), std::string::npos) << s;
  bad = FastOptions();
  bad.reduction_slice_bytes = -1;
  EXPECT_EQ(FastGraph::Compile(*g->graph, {1, 9, 9}, bad).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto native = FastGraph::Compile(*g->graph, {1, 9, 9});
  ASSERT_TRUE(native.ok()) << native.status();
  ASSERT_TRUE((*native)->options().isa.has_value());
  EXPECT_EQ(*(*native)->options().isa, CpuIsa());
  FastOptions portable_options;
  portable_options.isa = Isa::kPortable;
  auto portable = FastGraph::Compile(*g->graph, {1, 9, 9}, portable_options);
  ASSERT_TRUE(portable.ok()) << portable.status();
  const Tensor<float> input = RandomTensor({3, 1, 9, 9}, &rng);
  Tensor<float> want, a, b;
  ASSERT_TRUE(g->graph->Run(input, &want).ok());
  ASSERT_TRUE((*native)->Run(input, &a).ok());
  ASSERT_TRUE((*portable)->Run(input, &b).ok());
  EXPECT_EQ(*(*portable)->options().isa, Isa::kPortable);
  for (int64_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(a.data()[i], want.data()[i], 1e-5 + 1e-4 * std::fabs(want.data()[i])) << i;
    EXPECT_NEAR(b.data()[i], want.data()[i], 1e-5 + 1e-4 * std::fabs(want.data()[i])) << i;
  }
}

// The served model: the same Graph shared by concurrent callers, each result equal to a lone run's.
TEST(FastGraphTest, ConcurrentRunsOnTheFashionModelAreIndependent) {
  auto model = LoadModel(std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->engine(), Engine::kFast) << (*model)->engine_description();
  std::mt19937 rng(23);
  std::vector<Tensor<float>> inputs, want;
  for (int64_t b : {1, 3, 8, 16}) {
    inputs.push_back(RandomTensor({b, 1, 28, 28}, &rng));
    auto out = (*model)->Predict(inputs.back());
    ASSERT_TRUE(out.ok());
    want.push_back(*out);
  }
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const size_t k = static_cast<size_t>((t + i) % 4);
        auto out = (*model)->Predict(inputs[k]);
        if (!out.ok() || out->values() != want[k].values()) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// No heap growth per request: after warm-up, 10 000 runs leave the allocator where they found it.
TEST(FastGraphTest, NoHeapGrowthOverTenThousandRuns) {
  auto model = LoadModel(std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1");
  ASSERT_TRUE(model.ok()) << model.status();
  std::mt19937 rng(29);
  const Tensor<float> input = RandomTensor({4, 1, 28, 28}, &rng);
  Tensor<float> out;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*model)->Predict(input).ok());
  const size_t before = mallinfo2().uordblks;
  for (int i = 0; i < 10000; ++i) {
    auto r = (*model)->Predict(input);
    ASSERT_TRUE(r.ok());
  }
  const size_t after = mallinfo2().uordblks;
  EXPECT_LE(after, before + 4096) << "heap in use grew from " << before << " to " << after;
}

}  // namespace
}  // namespace theano_serving
