// The importer's ops against what real Theano computed: Theano 1.0.5 + Lasagne 0.2.dev1 (git
// 5d3c63c), float32, FAST_RUN — the per-layer outputs ("intermediates") of the import cases in
// tests/import/ (see its README). Each test feeds one layer's Theano input through our op and
// compares with that layer's Theano output, bit for bit. The fixtures in tests/data/import_ops/ are
// slices of those intermediates (tests/data/import_ops/README.md says which); the last test runs
// the same checks on the whole intermediates when tests/import/ is present and prints the worst
// difference.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/layer_factory.h"
#include "core/npz.h"
#include "core/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace {

using nlohmann::json;
using Arrays = std::map<std::string, Tensor<float>>;

absl::StatusOr<Arrays> LoadNpz(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<NpyArray> members, ReadNpzFile(path));
  Arrays out;
  for (const NpyArray& m : members) {
    ASSIGN_OR_RETURN(Tensor<float> t, NpyToTensor<float>(m, m.name));
    out.emplace(m.name, std::move(t));
  }
  return out;
}

Arrays Fixture(const std::string& name) {
  auto arrays = LoadNpz(std::string(TS_SOURCE_DIR) + "/tests/data/import_ops/" + name + ".npz");
  EXPECT_TRUE(arrays.ok()) << arrays.status();
  return arrays.ok() ? *std::move(arrays) : Arrays{};
}

// Runs one layer (model.json form: op, attrs) on `inputs` with `params`.
absl::StatusOr<Tensor<float>> RunLayer(const json& layer, std::vector<Tensor<float>> params,
                                       const std::vector<const Tensor<float>*>& inputs) {
  LayerSpec spec;
  spec.op = layer.at("op").get<std::string>();
  spec.name = spec.op;
  if (layer.contains("attrs")) spec.attrs = layer["attrs"];
  ASSIGN_OR_RETURN(LayerPtr<float> l, CreateLayer<float>(std::move(spec), std::move(params)));
  std::vector<Shape> shapes;
  for (const Tensor<float>* t : inputs) shapes.push_back(t->shape());
  ASSIGN_OR_RETURN(Shape shape, l->OutputShape(shapes));
  Tensor<float> out(shape);
  l->Run(inputs, &out);
  return out;
}

absl::StatusOr<Tensor<float>> RunLayer(const json& layer, std::vector<Tensor<float>> params,
                                       const Tensor<float>& x) {
  return RunLayer(layer, std::move(params), std::vector<const Tensor<float>*>{&x});
}

// How far `got` is from Theano's `want`: the largest |difference| and the number of elements that
// are not bit-identical.
struct Diff {
  double max_abs = 0;
  int64_t not_identical = 0;
};

Diff Compare(const Tensor<float>& got, const Tensor<float>& want) {
  Diff d;
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) {
    d.not_identical = want.size();
    return d;
  }
  for (int64_t i = 0; i < want.size(); ++i) {
    const float g = got.data()[i], w = want.data()[i];
    if (std::memcmp(&g, &w, sizeof(float)) != 0) ++d.not_identical;
    d.max_abs = std::max(d.max_abs, std::fabs(double(g) - double(w)));
  }
  return d;
}

// Runs the layer and expects Theano's output bit for bit.
void ExpectBitExact(const json& layer, std::vector<Tensor<float>> params, const Tensor<float>& x,
                    const Tensor<float>& want) {
  auto got = RunLayer(layer, std::move(params), x);
  ASSERT_TRUE(got.ok()) << layer.dump() << ": " << got.status();
  const Diff d = Compare(*got, want);
  EXPECT_EQ(d.not_identical, 0) << layer.dump() << ": max |diff| " << d.max_abs;
}

Tensor<float> Reshaped(Tensor<float> t, Shape shape) {
  t.Reshape(std::move(shape));
  return t;
}

const json kLrnNorm1 = {{"op", "local_response_normalization"},
                        {"attrs", {{"alpha", 1e-4}, {"k", 2}, {"beta", 0.75}, {"n", 5}}}};
const json kLrnNorm2 = {{"op", "local_response_normalization"},
                        {"attrs", {{"alpha", 2e-5}, {"k", 1}, {"beta", 0.75}, {"n", 3}}}};
const json kBatchNorm = {{"op", "batch_norm_inv_std"}};

// BatchNormLayer's parameters from a fixture, in the op's order.
std::vector<Tensor<float>> BnParams(const Arrays& a, const std::string& prefix) {
  return {a.at(prefix + "gamma"), a.at(prefix + "beta"), a.at(prefix + "mean"),
          a.at(prefix + "inv_std")};
}

// lasagne_inception_lrn: LocalResponseNormalization2DLayer norm1 (alpha 1e-4, k 2, beta 0.75,
// n 5) after conv1, norm2 (alpha 2e-5, k 1, beta 0.75, n 3) after dil. The norm1 window holds a
// pixel where powf(scale, 0.75f) and pow in double rounded to float differ: only powf matches.
TEST(ImportOpsTest, LocalResponseNormalizationMatchesLasagne) {
  const Arrays a = Fixture("lasagne_inception_lrn");
  ASSERT_FALSE(a.empty());
  ExpectBitExact(kLrnNorm1, {}, a.at("norm1_in"), a.at("norm1_out"));
  ExpectBitExact(kLrnNorm2, {}, a.at("norm2_in"), a.at("norm2_out"));
}

// lasagne_resnet_mini and lasagne_small_cnn: BatchNormLayer (deterministic) after a bias-free
// conv. Theano's result is fma((x - mean) * gamma, inv_std, beta); computing gamma * inv_std first
// (as the formula is written) is off by one ulp in many places.
TEST(ImportOpsTest, BatchNormLayerMatchesLasagne) {
  const Arrays r = Fixture("lasagne_resnet_mini");
  const Arrays s = Fixture("lasagne_small_cnn");
  ASSERT_FALSE(r.empty() || s.empty());
  ExpectBitExact(kBatchNorm, BnParams(r, "conv1_bn_"), r.at("conv1_bn_in"), r.at("conv1_bn_out"));
  ExpectBitExact(kBatchNorm, BnParams(r, "res3b_b_bn_"), r.at("res3b_b_bn_in"),
                 r.at("res3b_b_bn_out"));
  ExpectBitExact(kBatchNorm, BnParams(s, "bn_"), s.at("bn_in"), s.at("bn_out"));
  // The other order does not reproduce Theano.
  const Tensor<float>& x = r.at("res3b_b_bn_in");
  const Tensor<float>& want = r.at("res3b_b_bn_out");
  const std::vector<Tensor<float>> p = BnParams(r, "res3b_b_bn_");
  int64_t differ = 0;
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t c = (i / 25) % 32;
    const float scale = p[0].data()[c] * p[3].data()[c];
    differ += std::fma(x.data()[i] - p[2].data()[c], scale, p[1].data()[c]) != want.data()[i];
  }
  EXPECT_GT(differ, 100);
}

// GlobalPoolLayer = T.mean(x.flatten(3), axis=2): flatten then mean (a float64 sum cast to
// float32, divided by float32(H * W)). lasagne_nin_avgpool pool3, lasagne_resnet_mini pool5.
TEST(ImportOpsTest, GlobalPoolLayerMeanMatchesLasagne) {
  for (const auto& [name, key] :
       {std::pair<const char*, const char*>{"lasagne_nin_avgpool", "pool3"},
        {"lasagne_resnet_mini", "pool5"}}) {
    const Arrays a = Fixture(name);
    ASSERT_FALSE(a.empty());
    auto flat =
        RunLayer({{"op", "flatten"}, {"attrs", {{"ndim", 3}}}}, {}, a.at(std::string(key) + "_in"));
    ASSERT_TRUE(flat.ok()) << flat.status();
    ExpectBitExact({{"op", "mean"}, {"attrs", {{"axis", 2}}}}, {}, *flat,
                   a.at(std::string(key) + "_out"));
  }
}

// lasagne_inception_lrn: PadLayer(width=1) = pad width [[1, 1], [1, 1]].
TEST(ImportOpsTest, PadLayerMatchesLasagne) {
  const Arrays a = Fixture("lasagne_inception_lrn");
  ASSERT_FALSE(a.empty());
  ExpectBitExact({{"op", "pad"}, {"attrs", {{"width", {{1, 1}, {1, 1}}}}}}, {}, a.at("pad1_in"),
                 a.at("pad1_out"));
}

// lasagne_raw_tensor, layer by layer: ScaleLayer (mul by scales as (C, 1, 1)), BiasLayer with
// untied biases (add of a (C, H, W) param), FeaturePoolLayer(2) (reshape to (N, C/2, 2, H, W), max
// over axis 2), DimshuffleLayer((0, 1, 3, 2)), SliceLayer(slice(0, 5), axis=2),
// ReshapeLayer(([0], -1)), ElemwiseSumLayer(coeffs=[1, -0.5]) (mul by -0.5, then add).
TEST(ImportOpsTest, RawTensorLayersMatchLasagne) {
  const Arrays a = Fixture("lasagne_raw_tensor");
  ASSERT_FALSE(a.empty());
  ExpectBitExact({{"op", "mul"}}, {Reshaped(a.at("scale_scales"), {8, 1, 1})}, a.at("gconv"),
                 a.at("scale"));
  ExpectBitExact({{"op", "add"}}, {a.at("untied_bias_b")}, a.at("scale"), a.at("untied_bias"));
  auto pooled =
      RunLayer({{"op", "reshape"}, {"attrs", {{"shape", {{0}, 4, 2, {2}, {3}}}}}}, {}, a.at("act"));
  ASSERT_TRUE(pooled.ok()) << pooled.status();
  ExpectBitExact({{"op", "max"}, {"attrs", {{"axis", 2}}}}, {}, *pooled, a.at("maxout"));
  ExpectBitExact({{"op", "dimshuffle"}, {"attrs", {{"pattern", {0, 1, 3, 2}}}}}, {}, a.at("maxout"),
                 a.at("transpose"));
  ExpectBitExact({{"op", "subtensor"}, {"attrs", {{"axis", 2}, {"start", 0}, {"stop", 5}}}}, {},
                 a.at("transpose"), a.at("first_cols"));
  ExpectBitExact({{"op", "reshape"}, {"attrs", {{"shape", {{0}, -1}}}}}, {}, a.at("first_cols"),
                 a.at("reshape"));
  auto scaled =
      RunLayer({{"op", "mul"}, {"attrs", {{"operands", {"input:0", -0.5}}}}}, {}, a.at("head_b"));
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  auto mix = RunLayer({{"op", "add"}}, {}, {&a.at("head_a"), &*scaled});
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_EQ(Compare(*mix, a.at("mix")).not_identical, 0);
}

// The same checks on the whole intermediates (both images, every pixel), when tests/import/ is
// present; prints the worst |difference| of each.
TEST(ImportOpsTest, WholeIntermediatesWhenPresent) {
  const std::string dir = std::string(TS_SOURCE_DIR) + "/tests/import/";
  auto inception = LoadNpz(dir + "lasagne_inception_lrn/intermediates.npz");
  auto resnet = LoadNpz(dir + "lasagne_resnet_mini/intermediates.npz");
  auto nin = LoadNpz(dir + "lasagne_nin_avgpool/intermediates.npz");
  auto small = LoadNpz(dir + "lasagne_small_cnn/intermediates.npz");
  auto raw = LoadNpz(dir + "lasagne_raw_tensor/intermediates.npz");
  if (!inception.ok() || !resnet.ok() || !nin.ok() || !small.ok() || !raw.ok()) {
    GTEST_SKIP() << "tests/import/ is not here";
  }
  const Arrays r = Fixture("lasagne_resnet_mini");
  const Arrays s = Fixture("lasagne_small_cnn");
  const Arrays t = Fixture("lasagne_raw_tensor");
  struct Check {
    std::string what;
    absl::StatusOr<Tensor<float>> got;
    const Tensor<float>* want;
  };
  std::vector<Check> checks;
  auto flat3 = [](const Tensor<float>& x) {
    return Reshaped(x, {x.dim(0), x.dim(1), x.dim(2) * x.dim(3)});
  };
  checks.push_back({"LRN norm1", RunLayer(kLrnNorm1, {}, inception->at("01_conv1")),
                    &inception->at("02_norm1")});
  checks.push_back(
      {"LRN norm2", RunLayer(kLrnNorm2, {}, inception->at("13_dil")), &inception->at("14_norm2")});
  checks.push_back(
      {"PadLayer pad1",
       RunLayer({{"op", "pad"}, {"attrs", {{"width", {1, 1}}}}}, {}, inception->at("02_norm1")),
       &inception->at("03_pad1")});
  // Every BatchNormLayer of lasagne_resnet_mini: (conv output, BN output) keys.
  for (const auto& [layer, in, out] : std::vector<std::array<const char*, 3>>{
           {"conv1_bn", "01_conv1", "02_conv1_bn"},
           {"res2a_a_bn", "05_res2a_a", "06_res2a_a_bn"},
           {"res2a_b_bn", "08_res2a_b", "09_res2a_b_bn"},
           {"res3a_proj_bn", "12_res3a_proj", "13_res3a_proj_bn"},
           {"res3a_a_bn", "14_res3a_a", "15_res3a_a_bn"},
           {"res3a_b_bn", "17_res3a_b", "18_res3a_b_bn"},
           {"res3b_a_bn", "21_res3b_a", "22_res3b_a_bn"},
           {"res3b_b_bn", "24_res3b_b", "25_res3b_b_bn"}}) {
    checks.push_back({absl::StrCat("BatchNormLayer ", layer),
                      RunLayer(kBatchNorm, BnParams(r, absl::StrCat(layer, "_")), resnet->at(in)),
                      &resnet->at(out)});
  }
  checks.push_back({"BatchNormLayer (small_cnn)",
                    RunLayer(kBatchNorm, BnParams(s, "bn_"), small->at("01_Conv2DLayer")),
                    &small->at("02_BatchNormLayer")});
  const json mean2 = {{"op", "mean"}, {"attrs", {{"axis", 2}}}};
  checks.push_back({"GlobalPoolLayer pool5", RunLayer(mean2, {}, flat3(resnet->at("27_res3b_out"))),
                    &resnet->at("28_pool5")});
  checks.push_back({"GlobalPoolLayer pool3", RunLayer(mean2, {}, flat3(nin->at("07_Conv2DLayer"))),
                    &nin->at("08_GlobalPoolLayer")});
  checks.push_back(
      {"ScaleLayer",
       RunLayer({{"op", "mul"}}, {Reshaped(t.at("scale_scales"), {8, 1, 1})}, raw->at("01_gconv")),
       &raw->at("02_scale")});
  checks.push_back({"BiasLayer (untied)",
                    RunLayer({{"op", "add"}}, {t.at("untied_bias_b")}, raw->at("02_scale")),
                    &raw->at("03_untied_bias")});
  const Tensor<float>& act = raw->at("04_act");
  checks.push_back({"FeaturePoolLayer",
                    RunLayer({{"op", "max"}, {"attrs", {{"axis", 2}}}}, {},
                             Reshaped(act, {act.dim(0), 4, 2, act.dim(2), act.dim(3)})),
                    &raw->at("05_maxout")});
  checks.push_back({"DimshuffleLayer",
                    RunLayer({{"op", "dimshuffle"}, {"attrs", {{"pattern", {0, 1, 3, 2}}}}}, {},
                             raw->at("05_maxout")),
                    &raw->at("06_transpose")});
  checks.push_back(
      {"SliceLayer",
       RunLayer({{"op", "subtensor"}, {"attrs", {{"axis", 2}, {"start", 0}, {"stop", 5}}}}, {},
                raw->at("06_transpose")),
       &raw->at("07_first_cols")});
  checks.push_back({"ReshapeLayer",
                    RunLayer({{"op", "reshape"}, {"attrs", {{"shape", {{0}, -1}}}}}, {},
                             raw->at("07_first_cols")),
                    &raw->at("08_reshape")});
  for (Check& c : checks) {
    ASSERT_TRUE(c.got.ok()) << c.what << ": " << c.got.status();
    const Diff d = Compare(*c.got, *c.want);
    std::cout << c.what << ": " << c.want->size() << " values, max |diff| " << d.max_abs << ", "
              << d.not_identical << " not bit-identical\n";
    EXPECT_EQ(d.not_identical, 0) << c.what << ": max |diff| " << d.max_abs;
  }
}

}  // namespace
}  // namespace theano_serving
