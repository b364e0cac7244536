// Differential tests of the fast engine (core/fast) against the reference engine (core/ops) for the
// importer's ops (arithmetic with broadcasting, unary scalar ops, local_response_normalization,
// batch_norm_inv_std, sum/mean/max/min, pad, dimshuffle, reshape, subtensor, dense without bias):
// seeded random graphs whose values have ranks 1-5, the new ops chained, sitting between convs and
// after dense layers, on 1 and 2 threads, with stride-1 convs planar and channels-last, and for
// every kernel instruction set. The fast engine runs most of these ops as reference steps inside
// its plan: what is tested is that every graph compiles and that the plan feeds those steps (and
// the convs and dense layers around them) the right values. Tolerance: the golden one (atol 1e-5,
// rtol 1e-4); NaN where the reference has NaN, equal infinities.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "core/fast/fast_graph.h"
#include "core/graph.h"
#include "core/layer_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/unit/isa_test.h"

namespace theano_serving {
namespace {

using nlohmann::json;

// Builds a random graph layer by layer, asking each op for its output shape as it goes, so that
// every generated layer is valid.
class GraphBuilder {
 public:
  GraphBuilder(std::mt19937* rng, Shape item) : rng_(*rng) {
    cur_ = {1};
    cur_.insert(cur_.end(), item.begin(), item.end());
    values_.push_back({"input", cur_});
  }

  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  double Uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  bool Coin() { return Pick(0, 1) == 1; }

  const Shape& shape() const { return cur_; }  // The current value's shape, batch 1.
  // Value `name`'s shape, batch 1 (empty if there is none).
  Shape ShapeOf(const std::string& name) const {
    for (const auto& [n, s] : values_) {
      if (n == name) return s;
    }
    return {};
  }
  int rank() const { return static_cast<int>(cur_.size()); }
  const std::string& name() const { return cur_name_; }

  // An earlier value (not the current one) of the current shape, or "".
  std::string EarlierOfSameShape() const {
    for (const auto& [n, s] : values_) {
      if (s == cur_ && n != cur_name_) return n;
    }
    return "";
  }

  // A parameter of `shape` with values in [lo, hi); returns its name.
  std::string Param(const Shape& shape, float lo = -1, float hi = 1) {
    const std::string n = absl::StrCat("p", params_.size());
    Tensor<float> t(shape);
    std::uniform_real_distribution<float> u(lo, hi);
    for (float& v : t.values()) v = u(rng_);
    params_.emplace(n, std::move(t));
    return n;
  }

  // Appends `layer` (op, attrs, params) reading `inputs` (default: the current value); it becomes
  // the current value. False (with a test failure) if the op refuses it.
  bool Add(json layer, std::vector<std::string> inputs = {}) {
    if (inputs.empty()) inputs.push_back(cur_name_);
    const std::string n = absl::StrCat("l", layers_.size());
    layer["name"] = n;
    layer["inputs"] = inputs;
    LayerSpec spec;
    spec.op = layer["op"].get<std::string>();
    spec.name = n;
    if (layer.contains("attrs")) spec.attrs = layer["attrs"];
    std::vector<Tensor<float>> params;
    if (layer.contains("params")) {
      for (const json& p : layer["params"]) {
        spec.params.push_back(p.get<std::string>());
        params.push_back(params_.at(p.get<std::string>()));
      }
    }
    std::vector<Shape> in;
    for (const std::string& i : inputs) {
      for (const auto& [vn, vs] : values_) {
        if (vn == i) in.push_back(vs);
      }
    }
    auto l = CreateLayer<float>(spec, std::move(params));
    if (!l.ok()) {
      ADD_FAILURE() << layer.dump() << ": " << l.status();
      return false;
    }
    auto out = (*l)->OutputShape(in);
    if (!out.ok()) {
      ADD_FAILURE() << layer.dump() << " on " << ShapeToString(in[0]) << ": " << out.status();
      return false;
    }
    layers_.push_back(layer);
    ++OpCounts()[spec.op];
    cur_ = *out;
    cur_name_ = n;
    values_.push_back({n, cur_});
    return true;
  }

  absl::StatusOr<std::unique_ptr<Graph<float>>> Build() const {
    std::vector<LayerSpec> specs;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const json& l = layers_[i];
      LayerSpec spec;
      spec.op = l["op"].get<std::string>();
      spec.name = l["name"].get<std::string>();
      spec.index = static_cast<int>(i);
      if (l.contains("attrs")) spec.attrs = l["attrs"];
      if (l.contains("params")) {
        for (const json& p : l["params"]) spec.params.push_back(p.get<std::string>());
      }
      for (const json& in : l["inputs"]) spec.inputs.push_back(in.get<std::string>());
      specs.push_back(std::move(spec));
    }
    auto source = [this](const LayerSpec& spec) -> absl::StatusOr<std::vector<Tensor<float>>> {
      std::vector<Tensor<float>> out;
      for (const std::string& p : spec.params) out.push_back(params_.at(p));
      return out;
    };
    auto graph = Graph<float>::Build(std::move(specs), "input", source);
    if (!graph.ok()) return graph.status();
    return std::make_unique<Graph<float>>(*std::move(graph));
  }

  std::string Dump() const { return json(layers_).dump(); }
  // How many layers of each op all builders have made (for the tests' coverage checks).
  static std::map<std::string, int>& OpCounts() {
    static auto* counts = new std::map<std::string, int>;
    return *counts;
  }
  size_t num_layers() const { return layers_.size(); }

 private:
  std::mt19937& rng_;
  Shape cur_;
  std::string cur_name_ = "input";
  std::vector<std::pair<std::string, Shape>> values_;
  std::vector<json> layers_;
  std::map<std::string, Tensor<float>> params_;
};

// A random shape that broadcasts against `s` without touching the batch axis: some trailing axes
// of s, each kept or 1; with all of s's axes, 1 on axis 0.
Shape BroadcastableShape(GraphBuilder& g, const Shape& s) {
  const int rank = g.Pick(0, static_cast<int>(s.size()));
  Shape p;
  for (size_t d = s.size() - static_cast<size_t>(rank); d < s.size(); ++d) {
    p.push_back(d == 0 || g.Pick(0, 2) == 0 ? 1 : s[d]);
  }
  return p;
}

// "Tame" ops keep values in a range where a conv or dense after them stays within the tolerance
// (no 1/x, log, pow or division by parameters).
bool AddArith(GraphBuilder& g, bool tame) {
  const char* all[] = {"add", "sub", "mul", "true_div", "maximum", "minimum", "pow"};
  const char* mild[] = {"add", "sub", "mul", "maximum", "minimum"};
  const std::string op = tame ? mild[g.Pick(0, 4)] : all[g.Pick(0, 6)];
  const bool binary = op == "sub" || op == "true_div" || op == "pow";
  json operands = json::array({"input:0"});
  json params = json::array();
  std::vector<std::string> inputs = {g.name()};
  const std::string other = g.EarlierOfSameShape();
  if (!other.empty() && g.Pick(0, 3) == 0) {  // A second graph input (a residual-style join).
    inputs.push_back(other);
    operands.push_back("input:1");
  }
  const int extra =
      binary ? 2 - static_cast<int>(operands.size()) : g.Pick(inputs.size() > 1 ? 0 : 1, 3);
  for (int k = 0; k < extra; ++k) {
    if (g.Coin()) {
      const bool positive = op == "pow" || op == "true_div";
      params.push_back(g.Param(BroadcastableShape(g, g.shape()), positive ? 0.5f : -1.f, 1.5f));
      operands.push_back(absl::StrCat("param:", params.size() - 1));
    } else if (op == "pow") {
      const double exponents[] = {2, 3, 0.5, -1, -2, 0.75, 1.5, 0, 1, 13};
      operands.push_back(exponents[g.Pick(0, 9)]);
    } else if (op == "true_div") {
      operands.push_back(g.Coin() ? 3.0 : -0.25);
    } else {
      operands.push_back(std::round(g.Uniform(-2, 2) * 4) / 4);
    }
  }
  std::shuffle(operands.begin(), operands.end(), std::mt19937(g.Pick(0, 1 << 20)));
  json layer = {{"op", op}, {"attrs", {{"operands", operands}}}};
  if (!params.empty()) layer["params"] = params;
  return g.Add(layer, inputs);
}

bool AddUnary(GraphBuilder& g, bool tame) {
  const char* all[] = {"neg", "sqr", "sqrt", "log", "inv", "clip"};
  const char* mild[] = {"neg", "sqr", "clip"};
  const std::string op = tame ? mild[g.Pick(0, 2)] : all[g.Pick(0, 5)];
  json layer = {{"op", op}};
  if (op == "clip") {
    const double lo = g.Uniform(-1, 0.5);
    layer["attrs"] = {{"min", lo}, {"max", lo + g.Uniform(-0.2, 1.5)}};
  }
  return g.Add(layer);
}

bool AddLrn(GraphBuilder& g) {
  const double betas[] = {0.75, 0.5, 1, 2, 0.6};
  return g.Add({{"op", "local_response_normalization"},
                {"attrs",
                 {{"alpha", g.Uniform(1e-5, 0.5)},
                  {"k", g.Uniform(0.5, 3)},
                  {"beta", betas[g.Pick(0, 4)]},
                  {"n", 2 * g.Pick(0, 3) + 1}}}});
}

bool AddBatchNorm(GraphBuilder& g) {
  const Shape& s = g.shape();
  json axes = json::array({0});
  std::vector<bool> normalized(s.size(), false);
  normalized[0] = true;
  for (size_t d = 1; d < s.size(); ++d) {
    if (g.Pick(0, 2) == 0) {
      axes.push_back(d);
      normalized[d] = true;
    }
  }
  Shape kept, full;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!normalized[d]) kept.push_back(s[d]);
    full.push_back(normalized[d] ? 1 : s[d]);
  }
  const Shape& p = g.Coin() ? kept : full;
  json layer = {
      {"op", "batch_norm_inv_std"},
      {"params", {g.Param(p, 0.5f, 1.5f), g.Param(p), g.Param(p), g.Param(p, 0.3f, 2.f)}}};
  layer["attrs"] = {{"axes", axes}};
  return g.Add(layer);
}

bool AddReduce(GraphBuilder& g, bool tame) {
  const int rank = g.rank();
  if (rank < 2) return true;
  const char* ops[] = {"mean", "max", "min", "sum"};
  json axis = json::array();
  for (int d = 1; d < rank; ++d) {
    if (g.Pick(0, 2) == 0) axis.push_back(g.Coin() ? d : d - rank);
  }
  if (axis.empty()) axis.push_back(g.Pick(1, rank - 1));
  std::shuffle(axis.begin(), axis.end(), std::mt19937(g.Pick(0, 1 << 20)));
  return g.Add(
      {{"op", ops[g.Pick(0, tame ? 0 : 3)]},
       {"attrs",
        {{"axis", axis.size() == 1 && g.Coin() ? axis[0] : axis}, {"keepdims", g.Coin()}}}});
}

bool AddPad(GraphBuilder& g) {
  const int rank = g.rank();
  if (rank < 2) return true;
  json width = json::array();
  const int k = g.Pick(1, rank - 1);
  for (int j = 0; j < k; ++j) {
    if (g.Coin()) {
      width.push_back(g.Pick(0, 2));
    } else {
      width.push_back({g.Pick(0, 2), g.Pick(0, 2)});
    }
  }
  return g.Add({{"op", "pad"}, {"attrs", {{"width", width}, {"value", g.Uniform(-1, 1)}}}});
}

bool AddDimshuffle(GraphBuilder& g, bool keep_rank) {
  const Shape& s = g.shape();
  std::vector<json> rest;
  for (int d = 1; d < g.rank(); ++d) {
    if (!keep_rank && s[static_cast<size_t>(d)] == 1 && g.Pick(0, 2) == 0) continue;  // Dropped.
    rest.push_back(d);
  }
  std::shuffle(rest.begin(), rest.end(), std::mt19937(g.Pick(0, 1 << 20)));
  if (!keep_rank && g.rank() < 5 && g.Coin()) {
    rest.insert(rest.begin() + g.Pick(0, static_cast<int>(rest.size())), "x");
  }
  json pattern = json::array({0});
  for (const json& r : rest) pattern.push_back(r);
  return g.Add({{"op", "dimshuffle"}, {"attrs", {{"pattern", pattern}}}});
}

bool AddReshape(GraphBuilder& g, int new_rank) {
  const Shape& s = g.shape();
  int64_t total = 1;
  for (size_t d = 1; d < s.size(); ++d) total *= s[d];
  Shape dims;
  int64_t left = total;
  for (int j = 1; j < new_rank - 1; ++j) {
    std::vector<int64_t> divisors;
    for (int64_t q = 1; q <= left; ++q) {
      if (left % q == 0) divisors.push_back(q);
    }
    dims.push_back(divisors[static_cast<size_t>(g.Pick(0, static_cast<int>(divisors.size()) - 1))]);
    left /= dims.back();
  }
  if (new_rank > 1) dims.push_back(left);
  json shape = json::array({json::array({0})});
  const int infer = new_rank > 1 && g.Coin() ? g.Pick(0, new_rank - 2) : -1;
  for (size_t j = 0; j < dims.size(); ++j) {
    if (static_cast<int>(j) == infer) {
      shape.push_back(-1);
      continue;
    }
    json entry = dims[j];
    for (size_t d = 1; d < s.size(); ++d) {
      if (s[d] == dims[j] && g.Pick(0, 2) == 0) entry = json::array({d});
    }
    shape.push_back(entry);
  }
  return g.Add({{"op", "reshape"}, {"attrs", {{"shape", shape}}}});
}

bool AddSubtensor(GraphBuilder& g, bool keep_rank) {
  const int rank = g.rank();
  if (rank < 2) return true;
  const int axis = g.Pick(1, rank - 1);
  const int64_t n = g.shape()[static_cast<size_t>(axis)];
  json attrs = {{"axis", g.Coin() ? axis : axis - rank}};
  if (!keep_rank && g.Pick(0, 2) == 0) {
    attrs["index"] = g.Pick(0, static_cast<int>(n) - 1) - (g.Coin() ? static_cast<int>(n) : 0);
  } else if (g.Coin()) {
    const int start = g.Pick(0, static_cast<int>(n) - 1);
    attrs["start"] = start;
    if (g.Coin()) attrs["stop"] = g.Pick(start + 1, static_cast<int>(n));
    attrs["step"] = g.Pick(1, 2);
  } else {
    const int start = g.Pick(0, static_cast<int>(n) - 1);
    attrs["start"] = start;
    attrs["step"] = -g.Pick(1, 2);
    if (start > 0 && g.Coin()) attrs["stop"] = g.Pick(0, start - 1);
  }
  return g.Add({{"op", "subtensor"}, {"attrs", attrs}});
}

// One random new op on the current value, any rank.
bool AddAnyNewOp(GraphBuilder& g, bool tame) {
  switch (g.Pick(0, 9)) {
    case 0:
    case 1:
      return AddArith(g, tame);
    case 2:
      return AddUnary(g, tame);
    case 3:
      return g.rank() == 4 ? AddLrn(g) : AddBatchNorm(g);
    case 4:
      return AddBatchNorm(g);
    case 5:
      return g.rank() > 2 ? AddReduce(g, tame) : AddPad(g);
    case 6:
      return AddPad(g);
    case 7:
      return AddDimshuffle(g, false);
    case 8:
      return AddReshape(g, g.Pick(2, 5));
    default:
      return AddSubtensor(g, false);
  }
}

// One random new op that keeps an (N, C, H, W) value 4-D, for the conv after it.
bool AddImageOp(GraphBuilder& g) {
  switch (g.Pick(0, 9)) {
    case 0:
      return AddLrn(g);
    case 1:
      return AddBatchNorm(g);
    case 2:
      return AddArith(g, true);
    case 3:
      return AddUnary(g, true);
    case 4: {
      const int pad = g.Pick(0, 2);
      const json width = {{g.Pick(0, 2), pad}, {pad, g.Pick(0, 1)}};
      return g.Add({{"op", "pad"}, {"attrs", {{"width", width}}}});
    }
    case 5:
      return AddDimshuffle(g, true);
    case 6:
      return AddSubtensor(g, true);
    case 7:
      return g.Add({{"op", "mean"}, {"attrs", {{"axis", g.Pick(2, 3)}, {"keepdims", true}}}});
    case 8: {  // Reshape (N, C, H, W) -> (N, C, W, H) (not a transpose: the same bytes).
      const Shape s = g.shape();
      const json shape = {{0}, {1}, s[3], -1};
      return g.Add({{"op", "reshape"}, {"attrs", {{"shape", shape}}}});
    }
    default:
      return AddArith(g, true);
  }
}

json Conv(const std::string& w, const char* border) {
  return {{"op", "conv2d"}, {"attrs", {{"border_mode", border}}}, {"params", {w}}};
}

bool Close(float got, float want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(double(got) - double(want)) <= 1e-5 + 1e-4 * std::fabs(double(want));
}

// Runs both engines on a random batch (values in [-1.5, 1.5)) and compares, with 1 or 2 threads,
// stride-1 convs planar and channels-last, the fast kernels of instruction set `isa`.
void ExpectSameAsReference(const Graph<float>& graph, const Shape& item, int64_t batch, int threads,
                           std::mt19937* rng, const std::string& what, Isa isa = CpuIsa(),
                           int64_t reduction_slice_bytes = 0) {
  Shape shape = {batch};
  shape.insert(shape.end(), item.begin(), item.end());
  Tensor<float> input(shape);
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);
  for (float& v : input.values()) v = u(*rng);
  Tensor<float> want, got;
  ASSERT_TRUE(graph.Run(input, &want).ok()) << what;
  for (FastOptions::PlanarConv planar :
       {FastOptions::PlanarConv::kAlways, FastOptions::PlanarConv::kNever}) {
    FastOptions options;
    options.threads = threads;
    options.isa = isa;
    options.parallelize_any_size = threads > 1;
    options.planar_conv = planar;
    options.reduction_slice_bytes = reduction_slice_bytes;
    auto fast = FastGraph::Compile(graph, item, options);
    ASSERT_TRUE(fast.ok()) << what << ": " << fast.status();
    for (int round = 0; round < 2; ++round) {  // The second run reuses the workspace.
      ASSERT_TRUE((*fast)->Run(input, &got).ok()) << what;
      ASSERT_EQ(got.shape(), want.shape()) << what;
      for (int64_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(Close(got.data()[i], want.data()[i]))
            << what << ", batch " << batch << ", threads " << threads << ", planar "
            << (planar == FastOptions::PlanarConv::kAlways) << ": element " << i << " fast "
            << got.data()[i] << " reference " << want.data()[i] << "\n"
            << (*fast)->Describe();
      }
    }
  }
}

class FastNewOpsIsaTest : public FastIsaTest {};
INSTANTIATE_TEST_SUITE_P(Isa, FastNewOpsIsaTest, IsaValues(), IsaName);

// Chains of 1-6 new ops on inputs of rank 2-5 (values of rank 1-5 along the way), every op and
// attribute drawn at random, including 1/x, log and pow (NaN and inf compared as such).
TEST(FastNewOpsTest, RandomChainsOfNewOpsMatchTheReference) {
  std::mt19937 rng(1301);
  GraphBuilder::OpCounts().clear();
  int compared = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    const int rank = 1 + trial % 4;  // Item rank 1-4: values of rank 2-5.
    Shape item;
    for (int d = 0; d < rank; ++d) item.push_back(std::uniform_int_distribution<int>(1, 5)(rng));
    GraphBuilder g(&rng, item);
    const int length = g.Pick(1, 6);
    bool ok = true;
    for (int k = 0; k < length && ok; ++k) ok = AddAnyNewOp(g, false);
    ASSERT_TRUE(ok) << g.Dump();
    if (g.num_layers() == 0) continue;  // Only no-op draws (e.g. a reduction of a rank-1 value).
    auto graph = g.Build();
    ASSERT_TRUE(graph.ok()) << g.Dump() << ": " << graph.status();
    ExpectSameAsReference(**graph, item, g.Pick(1, 4), g.Pick(1, 2), &rng, g.Dump());
    if (HasFatalFailure()) return;
    ++compared;
  }
  EXPECT_GT(compared, 950);
  // Every new op was drawn, many times.
  for (const char* op :
       {"add",      "sub",  "mul",  "true_div", "maximum", "minimum",    "pow",
        "neg",      "sqr",  "sqrt", "log",      "inv",     "clip",       "batch_norm_inv_std",
        "sum",      "mean", "max",  "min",      "pad",     "dimshuffle", "reshape",
        "subtensor"}) {
    EXPECT_GE(GraphBuilder::OpCounts()[op], 20) << op;
  }
}

// conv -> new op(s) keeping the image 4-D -> conv (+ bias, relu): the new ops read a conv's
// channels-last or planar output and write what the next conv reads (padded, planar or NHWC).
TEST_P(FastNewOpsIsaTest, NewOpsBetweenConvsMatchTheReference) {
  std::mt19937 rng(77 + GetParam());
  for (int trial = 0; trial < 200; ++trial) {
    const int c = 1 + trial % 5;
    std::uniform_int_distribution<int> size(4, 11);
    const Shape item = {c, size(rng), size(rng)};
    GraphBuilder b(&rng, item);
    const int o1 = b.Pick(1, 9);
    ASSERT_TRUE(b.Add(Conv(b.Param({o1, c, 3, 3}, -0.5f, 0.5f), b.Coin() ? "half" : "valid")));
    const int ops = b.Pick(1, 3);
    for (int k = 0; k < ops; ++k) ASSERT_TRUE(AddImageOp(b)) << b.Dump();
    const Shape s = b.shape();
    if (s[2] < 1 || s[3] < 1) continue;
    const int o2 = b.Pick(1, 9);
    ASSERT_TRUE(b.Add(Conv(b.Param({o2, s[1], 2, 2}, -0.5f, 0.5f), "half")));
    ASSERT_TRUE(b.Add({{"op", "bias_add"}, {"params", {b.Param({o2})}}}));
    ASSERT_TRUE(b.Add({{"op", "relu"}}));
    if (b.Coin()) {
      ASSERT_TRUE(AddImageOp(b)) << b.Dump();  // And one after the last conv.
    }
    auto graph = b.Build();
    ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
    ExpectSameAsReference(**graph, item, b.Pick(1, 5), b.Pick(1, 2), &rng, b.Dump(), isa());
    if (HasFatalFailure()) return;
  }
}

// flatten -> dense (with or without b) -> new ops, reshapes to ranks 3-5 and back -> dense
// without b -> softmax; and a dense directly on a 2-D input.
TEST_P(FastNewOpsIsaTest, NewOpsAfterDenseLayersMatchTheReference) {
  std::mt19937 rng(91 + GetParam());
  for (int trial = 0; trial < 150; ++trial) {
    const bool image = trial % 2 == 0;
    const Shape item = image ? Shape{2, 5, 6} : Shape{12};
    GraphBuilder b(&rng, item);
    if (image) {
      ASSERT_TRUE(b.Add(Conv(b.Param({3, 2, 3, 3}, -0.5f, 0.5f), "valid")));
      ASSERT_TRUE(b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 2}}}}));
    }
    const int units = 6 * b.Pick(1, 4);
    json dense = {{"op", "dense"}, {"params", {b.Param({b.shape()[1], units}, -0.4f, 0.4f)}}};
    if (b.Coin()) dense["params"].push_back(b.Param({units}));
    ASSERT_TRUE(b.Add(dense));
    const int ops = b.Pick(1, 4);
    for (int k = 0; k < ops; ++k) {
      if (b.Pick(0, 2) == 0) {
        ASSERT_TRUE(AddReshape(b, b.Pick(3, 5))) << b.Dump();
      }
      ASSERT_TRUE(AddAnyNewOp(b, true)) << b.Dump();
    }
    if (b.rank() == 1) {
      ASSERT_TRUE(b.Add({{"op", "dimshuffle"}, {"attrs", {{"pattern", {0, "x"}}}}}));
    }
    if (b.rank() != 2) {
      ASSERT_TRUE(b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 2}}}}));
    }
    ASSERT_TRUE(b.Add({{"op", "dense"}, {"params", {b.Param({b.shape()[1], 5}, -0.4f, 0.4f)}}}));
    ASSERT_TRUE(b.Add({{"op", "softmax"}}));
    auto graph = b.Build();
    ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
    for (int64_t batch : {1, 3, 7}) {
      ExpectSameAsReference(**graph, item, batch, b.Pick(1, 2), &rng, b.Dump(), isa());
      if (HasFatalFailure()) return;
    }
  }
}

// The fast plan of `graph` (default options but the instruction set), as Describe() prints it.
std::string PlanOf(const Graph<float>& graph, const Shape& item, Isa isa) {
  FastOptions options;
  options.isa = isa;
  auto fast = FastGraph::Compile(graph, item, options);
  EXPECT_TRUE(fast.ok()) << fast.status();
  return fast.ok() ? (*fast)->Describe() : "";
}

// A Lasagne batch norm (inv_std form) of c channels along axis 1 (params (c,)).
json BatchNorm(GraphBuilder& b, int64_t c) {
  return {
      {"op", "batch_norm_inv_std"},
      {"params", {b.Param({c}, 0.5f, 1.5f), b.Param({c}), b.Param({c}), b.Param({c}, 0.3f, 2.f)}}};
}

// The model-zoo networks' building blocks as the importer writes them (issue 17), each on fast
// steps only: no "reference kernel" in the plan, the fusions the plan names, and the reference's
// results on 1 and 2 threads, planar and channels-last, batches of 1-4.
//  * GoogLeNet: conv + bias + relu -> LRN -> an inception module (1x1; 1x1 -> 3x3 pad 1;
//    1x1 -> 5x5 pad 2; 3x3/1 pad-1 max pool -> 1x1) concatenated, a second module read through
//    a padded conv, the two concatenated again -> 2x2 average pool -> flatten -> softmax.
//  * ResNet-50: bias-free conv -> batch norm -> relu bottlenecks, the last batch norm before the
//    residual sum, a projection shortcut; then mean over axes (2, 3) -> dense -> softmax.
//  * Inception-v3: 1x7 / 7x1 convs with batch norm, an average_exc_pad pool branch, concat,
//    flatten(ndim=3) -> mean over axis 2 (Lasagne's GlobalPoolLayer) -> dense -> log_softmax.
TEST_P(FastNewOpsIsaTest, ModelZooBlocksRunOnFastStepsOnly) {
  std::mt19937 rng(1700 + GetParam());
  // conv2d of value `in` (the current value if empty) to o channels, without bias.
  auto conv = [](GraphBuilder& b, const std::string& in, int64_t o, int64_t kh, int64_t kw,
                 json border, json subsample = json::array({1, 1})) {
    const int64_t c = b.ShapeOf(in.empty() ? b.name() : in)[1];
    return b.Add({{"op", "conv2d"},
                  {"attrs", {{"border_mode", border}, {"subsample", subsample}}},
                  {"params", {b.Param({o, c, kh, kw}, -0.3f, 0.3f)}}},
                 in.empty() ? std::vector<std::string>{} : std::vector<std::string>{in});
  };
  auto bias_relu = [](GraphBuilder& b) {
    return b.Add({{"op", "bias_add"}, {"params", {b.Param({b.shape()[1]})}}}) &&
           b.Add({{"op", "relu"}});
  };
  auto bn = [](GraphBuilder& b, bool relu) {
    return b.Add(BatchNorm(b, b.shape()[1])) && (!relu || b.Add({{"op", "relu"}}));
  };
  auto pool = [](GraphBuilder& b, const std::string& in, int64_t ws, int64_t stride, int64_t pad,
                 const char* mode) {
    return b.Add({{"op", "pool_2d"},
                  {"attrs",
                   {{"ws", {ws, ws}},
                    {"stride", {stride, stride}},
                    {"pad", {pad, pad}},
                    {"ignore_border", true},
                    {"mode", mode}}}},
                 in.empty() ? std::vector<std::string>{} : std::vector<std::string>{in});
  };
  auto concat = [](GraphBuilder& b, std::vector<std::string> ins) {
    return b.Add({{"op", "concatenate"}, {"attrs", {{"axis", 1}}}}, std::move(ins));
  };

  struct Case {
    const char* name;
    Shape item;
    std::function<bool(GraphBuilder&)> build;
    std::vector<const char*> plan_has;
  };
  const std::vector<Case> cases = {
      {"googlenet",
       {3, 12, 12},
       [&](GraphBuilder& b) {
         bool ok = conv(b, "", 16, 3, 3, "half") && bias_relu(b) &&
                   b.Add({{"op", "local_response_normalization"},
                          {"attrs", {{"alpha", 1e-4}, {"k", 2}, {"beta", 0.75}, {"n", 5}}}});
         auto module = [&](const std::string& in, int64_t width) {
           std::vector<std::string> outs;
           ok = ok && conv(b, in, width, 1, 1, "valid") && bias_relu(b);
           outs.push_back(b.name());
           ok = ok && conv(b, in, 8, 1, 1, "valid") && bias_relu(b) &&
                conv(b, "", width, 3, 3, "half") && bias_relu(b);
           outs.push_back(b.name());
           ok = ok && conv(b, in, 4, 1, 1, "valid") && bias_relu(b) &&
                conv(b, "", 8, 5, 5, "half") && bias_relu(b);
           outs.push_back(b.name());
           ok = ok && pool(b, in, 3, 1, 1, "max") && conv(b, "", 8, 1, 1, "valid") && bias_relu(b);
           outs.push_back(b.name());
           ok = ok && concat(b, outs);
           return b.name();
         };
         const std::string m1 = module(b.name(), 12);
         ok = ok && conv(b, m1, 16, 3, 3, "half") && bias_relu(b);
         const std::string m2 = module(b.name(), 16);
         ok = ok && concat(b, {m1, m2}) && pool(b, "", 2, 2, 0, "average_exc_pad") &&
              b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 2}}}}) && b.Add({{"op", "softmax"}});
         return ok;
       },
       {"LRN", "of the concatenation", "concatenate"}},
      {"resnet50",
       {8, 10, 10},
       [&](GraphBuilder& b) {
         bool ok = conv(b, "", 16, 3, 3, "half") && bn(b, true);
         for (int block = 0; block < 2; ++block) {
           const std::string in = b.name();
           const bool project = block == 0;
           const int64_t width = project ? 24 : b.shape()[1];
           std::string shortcut = in;
           if (project) {
             ok = ok && conv(b, in, width, 1, 1, "valid", {2, 2}) && bn(b, false);
             shortcut = b.name();
           }
           ok = ok && conv(b, in, 8, 1, 1, "valid", project ? json{2, 2} : json{1, 1}) &&
                bn(b, true) && conv(b, "", 8, 3, 3, "half") && bn(b, true) &&
                conv(b, "", width, 1, 1, "valid") && bn(b, false) &&
                b.Add({{"op", "add"}}, {b.name(), shortcut}) && b.Add({{"op", "relu"}});
         }
         return ok && b.Add({{"op", "mean"}, {"attrs", {{"axis", {2, 3}}}}}) &&
                b.Add({{"op", "dense"},
                       {"params", {b.Param({b.shape()[1], 10}, -0.3f, 0.3f), b.Param({10})}}}) &&
                b.Add({{"op", "softmax"}});
       },
       {"+ batch norm + relu", "+ batch norm + residual", "global pool"}},
      {"inception_v3",
       {6, 11, 11},
       [&](GraphBuilder& b) {
         bool ok = conv(b, "", 12, 3, 3, "valid") && bn(b, true);
         const std::string in = b.name();
         std::vector<std::string> outs;
         ok = ok && conv(b, in, 8, 1, 1, "valid") && bn(b, true);
         outs.push_back(b.name());
         ok = ok && conv(b, in, 6, 1, 7, json{0, 3}) && bn(b, true) &&
              conv(b, "", 8, 7, 1, json{3, 0}) && bn(b, true);
         outs.push_back(b.name());
         ok = ok && conv(b, in, 6, 1, 3, json{0, 1}) && bn(b, true) &&
              conv(b, "", 6, 3, 1, json{1, 0}) && bn(b, true);
         outs.push_back(b.name());
         ok = ok && pool(b, in, 3, 1, 1, "average_exc_pad") && conv(b, "", 4, 1, 1, "valid") &&
              bn(b, true);
         outs.push_back(b.name());
         return ok && concat(b, outs) && b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 3}}}}) &&
                b.Add({{"op", "mean"}, {"attrs", {{"axis", 2}}}}) &&
                b.Add({{"op", "dense"},
                       {"params", {b.Param({b.shape()[1], 7}, -0.3f, 0.3f), b.Param({7})}}}) &&
                b.Add({{"op", "log_softmax"}});
       },
       {"+ batch norm + relu", "of the concatenation", "global pool", "log_softmax"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(&rng, c.item);
    ASSERT_TRUE(c.build(b)) << b.Dump();
    auto graph = b.Build();
    ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
    const std::string plan = PlanOf(**graph, c.item, isa());
    EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("reference kernel"))) << plan;
    for (const char* text : c.plan_has) EXPECT_THAT(plan, ::testing::HasSubstr(text)) << plan;
    for (int64_t batch : {1, 4}) {
      for (int threads : {1, 2}) {
        ExpectSameAsReference(**graph, c.item, batch, threads, &rng, b.Dump(), isa());
        if (HasFatalFailure()) return;
      }
    }
  }
}

// What the importer writes around Keras' channels-last tensors and Lasagne's shape layers, on
// fast steps only and with no layout change: dimshuffle (0, 3, 1, 2) of the (N, H, W, C) input
// and (0, 2, 3, 1) before the dense layer are views of the NHWC buffers; a ScaleLayer and a
// BiasLayer after a conv join its epilogue (as a batch norm), a ScaleLayer after a dense layer is
// a step of its own, so are an untied BiasLayer (a (C, H, W) parameter) and a scalar multiple;
// Keras' batch norm (batch_normalization_test, spatial) joins a conv's epilogue; maxout
// (FeaturePoolLayer: reshape to (N, C / 2, 2, H, W) + max over axis 2) is one step over the NHWC
// channels; a zero PadLayer is an NHWC copy into a zero-bordered buffer; slices along rows, columns
// (step 2) and channels are NHWC copies. Then the reference's results on 1 and 2 threads, planar
// (where maxout and the slices run in C order) and channels-last, batches of 1-5.
TEST_P(FastNewOpsIsaTest, ImporterShapeLayersAndScalesRunOnFastSteps) {
  std::mt19937 rng(1800 + GetParam());
  const Shape item = {9, 8, 5};
  GraphBuilder b(&rng, item);
  const bool built =
      b.Add({{"op", "dimshuffle"}, {"attrs", {{"pattern", {0, 3, 1, 2}}}}}) &&
      b.Add({{"op", "conv2d"}, {"params", {b.Param({12, 5, 3, 3}, -0.3f, 0.3f)}}}) &&
      b.Add({{"op", "bias_add"}, {"params", {b.Param({12})}}}) &&
      b.Add({{"op", "mul"}, {"params", {b.Param({12, 1, 1}, -2, 2)}}}) &&
      b.Add({{"op", "bias_add"}, {"params", {b.Param({12})}}}) &&
      b.Add({{"op", "reshape"}, {"attrs", {{"shape", {{0}, 6, 2, 7, 6}}}}}) &&
      b.Add({{"op", "max"}, {"attrs", {{"axis", 2}}}}) &&
      b.Add({{"op", "add"}, {"params", {b.Param({6, 7, 6})}}}) &&
      b.Add({{"op", "mul"}, {"attrs", {{"operands", {"input:0", -0.5}}}}}) &&
      b.Add({{"op", "pad"}, {"attrs", {{"width", {{1, 2}, {2, 1}}}, {"value", 0}}}}) &&
      b.Add({{"op", "conv2d"}, {"params", {b.Param({8, 6, 3, 3}, -0.3f, 0.3f)}}}) &&
      b.Add({{"op", "batch_normalization_test"},
             {"attrs", {{"axes", "spatial"}}},
             {"params",
              {b.Param({1, 8, 1, 1}, 0.5f, 1.5f), b.Param({1, 8, 1, 1}), b.Param({1, 8, 1, 1}),
               b.Param({1, 8, 1, 1}, 0.3f, 2.f)}}}) &&
      b.Add({{"op", "relu"}}) &&
      b.Add({{"op", "subtensor"}, {"attrs", {{"axis", 2}, {"start", 1}}}}) &&
      b.Add({{"op", "subtensor"}, {"attrs", {{"axis", -1}, {"start", 0}, {"step", 2}}}}) &&
      b.Add({{"op", "subtensor"}, {"attrs", {{"axis", 1}, {"start", 2}, {"stop", 7}}}}) &&
      b.Add({{"op", "dimshuffle"}, {"attrs", {{"pattern", {0, 2, 3, 1}}}}}) &&
      b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 2}}}}) &&
      b.Add({{"op", "dense"}, {"params", {b.Param({140, 6}, -0.3f, 0.3f), b.Param({6})}}}) &&
      b.Add({{"op", "mul"}, {"params", {b.Param({6}, -2, 2)}}}) && b.Add({{"op", "softmax"}});
  ASSERT_TRUE(built) << b.Dump();
  auto graph = b.Build();
  ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
  const std::string plan = PlanOf(**graph, item, isa());
  for (const char* absent : {"reference kernel", "to NHWC", "to plain"}) {
    EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr(absent))) << plan;
  }
  for (const char* text :
       {"+ bias + scale + bias (as a batch norm)", "per-channel scale",
        "plus parameter (6, 7, 6) per item NHWC", "+ batch norm + relu",
        "max over groups of 2 channels (maxout)", "pad (1, 2) x (2, 1) NHWC",
        "slice 7 of 8 along axis 2", "slice 4 of 7 along axis 3 from 0 step 2 NHWC",
        "slice 5 of 8 along axis 1"}) {
    EXPECT_THAT(plan, ::testing::HasSubstr(text)) << plan;
  }
  for (int64_t batch : {1, 2, 5}) {
    for (int threads : {1, 2}) {
      ExpectSameAsReference(**graph, item, batch, threads, &rng, b.Dump(), isa());
      if (HasFatalFailure()) return;
    }
  }
}

// Maxout (FeaturePoolLayer: reshape to (N, C / p, p, ...) + a reduction over axis 2) ends the
// epilogue of the conv or dense layer before it when the weights' channel blocks hold whole groups
// (p = 2 and 4 here, max, mean and min, after a bias and relu, written into a concatenation and
// into the next conv's zero-bordered input, and after a dense layer); with p = 3 the NHWC pool is
// a step of its own. Exact (the reference's
// ReduceValues on the same values), so the results match the reference engine's on 1 and 2 threads,
// batches 1-5, with the default reduction slices and with slices of 256 bytes (which a pooled
// epilogue ignores: its tiles must be final).
TEST_P(FastNewOpsIsaTest, FeaturePoolsEndTheConvAndDenseEpilogues) {
  std::mt19937 rng(1900 + GetParam());
  const Shape item = {6, 9, 7};
  GraphBuilder b(&rng, item);
  auto feature_pool = [&b](int64_t p, const char* op) {
    json shape = {{0}, b.shape()[1] / p, p};
    for (size_t a = 2; a < b.shape().size(); ++a) shape.push_back(b.shape()[a]);
    return b.Add({{"op", "reshape"}, {"attrs", {{"shape", shape}}}}) &&
           b.Add({{"op", op}, {"attrs", {{"axis", 2}}}});
  };
  bool built = b.Add({{"op", "conv2d"},
                      {"attrs", {{"border_mode", "half"}}},
                      {"params", {b.Param({32, 6, 3, 3}, -0.3f, 0.3f)}}}) &&
               b.Add({{"op", "bias_add"}, {"params", {b.Param({32})}}}) &&
               b.Add({{"op", "relu"}}) && feature_pool(2, "max");
  const std::string first = b.name();
  built = built && b.Add({{"op", "conv2d"}, {"params", {b.Param({24, 16, 1, 1}, -0.3f, 0.3f)}}}) &&
          feature_pool(4, "mean");
  const std::string second = b.name();
  built = built && b.Add({{"op", "concatenate"}, {"attrs", {{"axis", 1}}}}, {first, second}) &&
          b.Add({{"op", "conv2d"}, {"params", {b.Param({16, 22, 1, 1}, -0.3f, 0.3f)}}}) &&
          feature_pool(2, "min") &&
          b.Add({{"op", "conv2d"},
                 {"attrs", {{"border_mode", "half"}}},
                 {"params", {b.Param({12, 8, 3, 3}, -0.3f, 0.3f)}}}) &&
          feature_pool(3, "max") && b.Add({{"op", "flatten"}, {"attrs", {{"ndim", 2}}}}) &&
          b.Add({{"op", "dense"}, {"params", {b.Param({252, 40}, -0.3f, 0.3f), b.Param({40})}}}) &&
          feature_pool(2, "max") &&
          b.Add({{"op", "dense"}, {"params", {b.Param({20, 10}, -0.3f, 0.3f), b.Param({10})}}}) &&
          b.Add({{"op", "softmax"}});
  ASSERT_TRUE(built) << b.Dump();
  auto graph = b.Build();
  ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
  const std::string plan = PlanOf(**graph, item, isa());
  EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("reference kernel"))) << plan;
  for (const char* text : {"+ bias + relu + reshape", ": max over groups of 2 channels (maxout)\n",
                           ": mean over groups of 4 channels (maxout), into channels [16, 22)",
                           ": min over groups of 2 channels (maxout), into the pad (1, 1) x (1, 1)",
                           "max over groups of 3 channels (maxout) NHWC",
                           "(rows permuted for NHWC input) + reshape"}) {
    EXPECT_THAT(plan, ::testing::HasSubstr(text)) << plan;
  }
  for (int64_t batch : {1, 2, 5}) {
    for (int threads : {1, 2}) {
      for (int64_t slice_bytes : {0, 256}) {
        ExpectSameAsReference(**graph, item, batch, threads, &rng, b.Dump(), isa(), slice_bytes);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Lasagne's LeakyRectify (relu with alpha: fma(f2, |x|, f1 * x)) is a vector step, and element-wise
// reference functions (elu here) run over the threads: both bit for bit the reference's, on
// values that include NaN, infinities, signed zeros and denormals, on 1 and 2 threads.
TEST_P(FastNewOpsIsaTest, LeakyReluAndReferenceFunctionsMatchBitForBit) {
  std::mt19937 rng(2000 + GetParam());
  const Shape item = {5, 7, 9};
  GraphBuilder b(&rng, item);
  ASSERT_TRUE(b.Add({{"op", "relu"}, {"attrs", {{"alpha", 0.1}}}}) && b.Add({{"op", "elu"}}) &&
              b.Add({{"op", "relu"}, {"attrs", {{"alpha", -0.3}}}}))
      << b.Dump();
  auto graph = b.Build();
  ASSERT_TRUE(graph.ok()) << b.Dump() << ": " << graph.status();
  const std::string plan = PlanOf(**graph, item, isa());
  EXPECT_THAT(plan, ::testing::HasSubstr("leaky relu fma(0.45, |x|, 0.55 * x)")) << plan;
  EXPECT_THAT(plan, ::testing::HasSubstr("leaky relu fma(0.65, |x|, 0.35 * x)")) << plan;
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            0.0f,
                            -0.0f,
                            1e-40f,
                            -1e-40f,
                            3e38f,
                            -3e38f};
  for (int64_t batch : {1, 3}) {
    Tensor<float> input({batch, 5, 7, 9});
    std::uniform_real_distribution<float> u(-100, 100);
    for (int64_t i = 0; i < input.size(); ++i) {
      input.data()[i] = i % 7 == 3 ? specials[(i / 7) % 9] : u(rng);
    }
    Tensor<float> want, got;
    ASSERT_TRUE((*graph)->Run(input, &want).ok());
    for (int threads : {1, 2}) {
      FastOptions options;
      options.isa = isa();
      options.threads = threads;
      options.parallelize_any_size = threads > 1;
      auto fast = FastGraph::Compile(**graph, item, options);
      ASSERT_TRUE(fast.ok()) << fast.status();
      ASSERT_TRUE((*fast)->Run(input, &got).ok());
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < want.size(); ++i) {
        uint32_t g, w;
        std::memcpy(&g, &got.data()[i], 4);
        std::memcpy(&w, &want.data()[i], 4);
        ASSERT_EQ(g, w) << "element " << i << " (input " << input.data()[i] << "), batch " << batch
                        << ", threads " << threads << ": fast " << got.data()[i] << " reference "
                        << want.data()[i];
      }
    }
  }
}

// Each new op compiles into a fast plan on inputs of rank 2, 3, 4 and 5 (batch first), alone.
TEST(FastNewOpsTest, EveryNewOpCompilesOnEveryRank) {
  std::mt19937 rng(5);
  const std::vector<std::function<bool(GraphBuilder&)>> ops = {
      [](GraphBuilder& g) { return AddArith(g, false); },
      [](GraphBuilder& g) { return AddUnary(g, false); },
      [](GraphBuilder& g) { return AddBatchNorm(g); },
      [](GraphBuilder& g) { return AddReduce(g, false); },
      [](GraphBuilder& g) { return AddPad(g); },
      [](GraphBuilder& g) { return AddDimshuffle(g, false); },
      [](GraphBuilder& g) { return AddReshape(g, g.Pick(2, 5)); },
      [](GraphBuilder& g) { return AddSubtensor(g, false); },
  };
  for (int rank = 1; rank <= 4; ++rank) {
    for (size_t k = 0; k < ops.size(); ++k) {
      for (int rep = 0; rep < 5; ++rep) {
        Shape item;
        for (int d = 0; d < rank; ++d)
          item.push_back(std::uniform_int_distribution<int>(1, 4)(rng));
        GraphBuilder g(&rng, item);
        ASSERT_TRUE(ops[k](g));
        if (g.num_layers() == 0) continue;
        auto graph = g.Build();
        ASSERT_TRUE(graph.ok()) << g.Dump();
        ExpectSameAsReference(**graph, item, 2, 1, &rng, g.Dump());
        if (HasFatalFailure()) return;
      }
    }
  }
  // local_response_normalization needs an image.
  GraphBuilder g(&rng, {5, 3, 4});
  ASSERT_TRUE(AddLrn(g));
  auto graph = g.Build();
  ASSERT_TRUE(graph.ok());
  ExpectSameAsReference(**graph, {5, 3, 4}, 3, 1, &rng, g.Dump());
}

}  // namespace
}  // namespace theano_serving
