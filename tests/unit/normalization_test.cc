// local_response_normalization (Lasagne's LocalResponseNormalization2DLayer) and batch_norm_inv_std
// (Lasagne's BatchNormLayer at inference): hand-computed cases, float64, errors. The numerics are
// pinned against Theano's own outputs in import_ops_test.cc.
#include "core/ops/normalization.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/layer_testing.h"

namespace theano_serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::MakeLayer;
using testing_util::RunLayer;

TEST(LrnTest, HandComputedWithBetaOne) {
  // x (1, 3, 1, 1) = [1, 2, 3], n = 3 (one channel each side, zero padded), alpha = 1, k = 1,
  // beta = 1 (pow(s, 1) is s itself):
  //   scale = 1 + [0 + 1 + 4, 1 + 4 + 9, 4 + 9 + 0] = [6, 15, 14]
  //   out   = [1/6, 2/15, 3/14]   (by hand)
  auto layer =
      MakeLayer("local_response_normalization", R"({"alpha": 1, "k": 1, "beta": 1, "n": 3})");
  ASSERT_TRUE(layer.ok()) << layer.status();
  auto y = RunLayer(**layer, Tensor<float>({1, 3, 1, 1}, {1, 2, 3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{1, 3, 1, 1}));
  EXPECT_THAT(y->values(), ElementsAre(1.f / 6, 2.f / 15, 3.f / 14));
}

TEST(LrnTest, DefaultsAndBetaExponents) {
  // Lasagne's defaults alpha 1e-4, k 2, beta 0.75, n 5 on one channel x = 10 per pixel:
  //   scale = fma(1e-4f, 100, 2) (the four padding terms add 0) = 2.01
  //   out = 10 / powf(2.01f, 0.75f)   (by hand)
  auto layer = MakeLayer("local_response_normalization");
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, Tensor<float>({2, 1, 1, 2}, {10, 10, -10, 0}));
  ASSERT_TRUE(y.ok());
  const float scale = std::fma(1e-4f, 100.f, 2.f);
  const float want = 10.f / std::pow(scale, 0.75f);
  EXPECT_THAT(y->values(), ElementsAre(want, want, -want, 0.f));
  // beta 0.5 is sqrt (Theano's local_pow_specialize), beta 2 is s * s.
  auto half =
      MakeLayer("local_response_normalization", R"({"alpha": 1, "k": 0, "beta": 0.5, "n": 1})");
  ASSERT_TRUE(half.ok());
  y = RunLayer(**half, Tensor<float>({1, 1, 1, 1}, {3}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->data()[0], 3.f / std::sqrt(9.f));  // 1
  auto two =
      MakeLayer("local_response_normalization", R"({"alpha": 1, "k": 1, "beta": 2, "n": 1})");
  ASSERT_TRUE(two.ok());
  y = RunLayer(**two, Tensor<float>({1, 1, 1, 1}, {2}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->data()[0], 2.f / 25);  // 2 / (1 + 4)^2
}

TEST(LrnTest, Float64MatchesNaiveFormula) {
  std::mt19937 rng(3);
  std::normal_distribution<double> dist;
  Tensor<double> x({2, 6, 3, 2});
  for (double& v : x.values()) v = dist(rng);
  auto layer = MakeLayer<double>("local_response_normalization", R"({"alpha": 0.1, "n": 3})");
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, x);
  ASSERT_TRUE(y.ok());
  for (int n = 0; n < 2; ++n) {
    for (int c = 0; c < 6; ++c) {
      for (int p = 0; p < 6; ++p) {
        double s = 2;
        for (int cc = std::max(0, c - 1); cc <= std::min(5, c + 1); ++cc) {
          const double v = x.data()[(n * 6 + cc) * 6 + p];
          s += 0.1 * v * v;
        }
        const double want = x.data()[(n * 6 + c) * 6 + p] / std::pow(s, 0.75);
        ASSERT_NEAR(y->data()[(n * 6 + c) * 6 + p], want, 1e-15);
      }
    }
  }
}

// Taps beyond the channels only add alpha * 0: a window wider than 2C + 1 gives the same values,
// and a huge n costs no more than that.
TEST(LrnTest, WindowsWiderThanTheChannels) {
  std::mt19937 rng(9);
  std::normal_distribution<float> dist;
  Tensor<float> x({2, 3, 2, 2});
  for (float& v : x.values()) v = dist(rng);
  auto seven = MakeLayer("local_response_normalization", R"({"alpha": 0.5, "n": 7})");
  auto huge = MakeLayer("local_response_normalization", R"({"alpha": 0.5, "n": 999999999999})");
  ASSERT_TRUE(seven.ok() && huge.ok());
  auto a = RunLayer(**seven, x);
  auto b = RunLayer(**huge, x);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->values(), b->values());
}

TEST(LrnTest, Errors) {
  auto even = MakeLayer("local_response_normalization", R"({"n": 4})");
  EXPECT_EQ(even.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      even.status().message(),
      HasSubstr("local_response_normalization \"layer\": attribute n must be a positive odd "
                "number (Lasagne: \"Only works with odd n\"), got 4"));
  EXPECT_THAT(MakeLayer("local_response_normalization", R"({"n": -1})").status().message(),
              HasSubstr("got -1"));
  EXPECT_THAT(MakeLayer("local_response_normalization", R"({"size": 3})").status().message(),
              HasSubstr("unknown attribute size"));
  EXPECT_THAT(
      MakeLayer("local_response_normalization", "{}", {Tensor<float>({1})}).status().message(),
      HasSubstr("expects 0 parameters"));
  auto layer = MakeLayer("local_response_normalization");
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 3, 4}};
  EXPECT_THAT((*layer)->OutputShape(in).status().message(),
              HasSubstr("input must be 4-D (N, C, H, W), got (2, 3, 4)"));
}

// gamma, beta, mean, inv_std
std::vector<Tensor<float>> BnParams(const Shape& shape, std::vector<float> gamma,
                                    std::vector<float> beta, std::vector<float> mean,
                                    std::vector<float> inv_std) {
  return {Tensor<float>(shape, std::move(gamma)), Tensor<float>(shape, std::move(beta)),
          Tensor<float>(shape, std::move(mean)), Tensor<float>(shape, std::move(inv_std))};
}

TEST(BatchNormInvStdTest, HandComputed2d) {
  // x (2, 2) = [[3, 1], [1, -1.5]]; axes "auto" on a 2-D input = (0,); per column:
  // gamma = [2, 1], beta = [0.5, 0], mean = [1, -1], inv_std = [0.5, 4]
  // (x - mean) * gamma * inv_std + beta = [[2.5, 8], [0.5, -2]]   (by hand)
  auto layer =
      MakeLayer("batch_norm_inv_std", "{}", BnParams({2}, {2, 1}, {0.5f, 0}, {1, -1}, {0.5f, 4}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  auto y = RunLayer(**layer, Tensor<float>({2, 2}, {3, 1, 1, -1.5f}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values(), ElementsAre(2.5f, 8, 0.5f, -2));
  EXPECT_EQ((*layer)->NumParams(), 8);
}

TEST(BatchNormInvStdTest, ChannelParamsInBothLayoutsAndPerActivationAxes) {
  // x (1, 2, 1, 2) = [[[[1, 2]], [[3, 4]]]], per channel gamma = [1, 2], beta = [0, 1],
  // mean = [1, 0], inv_std = [2, 0.5]: channel 0 -> (x - 1) * 2 = [0, 2];
  // channel 1 -> x * 2 * 0.5 + 1 = [4, 5]   (by hand)
  const Tensor<float> x({1, 2, 1, 2}, {1, 2, 3, 4});
  for (const Shape& shape : {Shape{2}, Shape{1, 2, 1, 1}}) {
    auto layer = MakeLayer("batch_norm_inv_std", R"({"axes": "spatial"})",
                           BnParams(shape, {1, 2}, {0, 1}, {1, 0}, {2, 0.5f}));
    ASSERT_TRUE(layer.ok());
    auto y = RunLayer(**layer, x);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_THAT(y->values(), ElementsAre(0, 2, 4, 5)) << ShapeToString(shape);
  }
  // axes [0] (per-activation): params (C, H, W) = (2, 1, 2), one per element of an image.
  auto layer =
      MakeLayer("batch_norm_inv_std", R"({"axes": [0]})",
                BnParams({2, 1, 2}, {1, 1, 1, 1}, {0, 0, 0, 10}, {1, 2, 3, 4}, {1, 1, 1, 1}));
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, x);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values(), ElementsAre(0, 0, 0, 10));
  // axes 0 and 3 on (N, C, H, W): params (C, H) = (2, 1).
  auto axes03 = MakeLayer("batch_norm_inv_std", R"({"axes": [3, 0]})",
                          BnParams({2, 1}, {1, 1}, {0, 0}, {1, 3}, {1, -1}));
  ASSERT_TRUE(axes03.ok());
  y = RunLayer(**axes03, x);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values(), ElementsAre(0, 1, 0, -1));
}

// out = fma((x - mean) * gamma, inv_std, beta): the order Theano's canonicalized, FMA-contracted C
// code uses (pinned bit for bit by import_ops_test.cc); double here.
TEST(BatchNormInvStdTest, Float64UsesTheanosOrder) {
  std::mt19937 rng(11);
  std::normal_distribution<double> dist;
  Tensor<double> x({3, 4, 2, 3});
  for (double& v : x.values()) v = dist(rng);
  std::vector<Tensor<double>> params(4, Tensor<double>({4}));
  for (auto& p : params) {
    for (double& v : p.values()) v = dist(rng);
  }
  auto layer = MakeLayer<double>("batch_norm_inv_std", "{}", params);
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, x);
  ASSERT_TRUE(y.ok());
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t c = (i / 6) % 4;
    const double want = std::fma((x.data()[i] - params[2].data()[c]) * params[0].data()[c],
                                 params[3].data()[c], params[1].data()[c]);
    ASSERT_EQ(y->data()[i], want);
  }
}

TEST(BatchNormInvStdTest, Errors) {
  auto message = [](const char* attrs, std::vector<Tensor<float>> params) {
    auto layer = MakeLayer("batch_norm_inv_std", attrs, std::move(params));
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(layer.status().message());
  };
  const auto p4 = BnParams({2}, {1, 1}, {0, 0}, {0, 0}, {1, 1});
  EXPECT_THAT(message("{}", {Tensor<float>({2})}),
              HasSubstr("batch_norm_inv_std \"layer\": expects 4 parameters (gamma, beta, mean, "
                        "inv_std), got 1"));
  EXPECT_THAT(message(R"({"axes": [1, 2]})", p4),
              HasSubstr("attribute axes must include 0, the batch axis"));
  EXPECT_THAT(message(R"({"axes": [0, 0]})", p4),
              HasSubstr("attribute axes must list distinct non-negative axes, got [0,0]"));
  EXPECT_THAT(message(R"({"axes": [-1, 0]})", p4), HasSubstr("distinct non-negative"));
  EXPECT_THAT(message(R"({"axes": "channel"})", p4),
              HasSubstr("attribute axes must be a list of axes, an axis, \"auto\", \"spatial\" "
                        "or \"per-activation\", got \"channel\""));
  EXPECT_THAT(message(R"({"epsilon": 1e-4})", p4), HasSubstr("unknown attribute epsilon"));

  auto layer = MakeLayer("batch_norm_inv_std", "{}", p4);
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 3, 4, 4}};
  EXPECT_THAT(
      (*layer)->OutputShape(in).status().message(),
      HasSubstr("batch_norm_inv_std \"layer\": gamma (2,) does not fit input (2, 3, 4, 4) with "
                "axes (0, 2, 3): expected (3,) or (1, 3, 1, 1)"));
  auto far = MakeLayer("batch_norm_inv_std", R"({"axes": [0, 4]})", p4);
  ASSERT_TRUE(far.ok());
  EXPECT_THAT((*far)->OutputShape(in).status().message(),
              HasSubstr("axes (0, 4) do not fit input (2, 3, 4, 4) of rank 4"));
}

// The AVX2+FMA copies of the inner loops (core/cpu.h) give the portable copies' results bit for
// bit.
TEST(NormalizationTest, Avx2AndPortableLoopsAgree) {
  std::mt19937 rng(17);
  std::normal_distribution<float> dist;
  Tensor<float> x({2, 7, 5, 3});
  for (float& v : x.values()) v = dist(rng);
  std::vector<Tensor<float>> params(4, Tensor<float>({7}));
  for (auto& p : params) {
    for (float& v : p.values()) v = dist(rng);
  }
  auto lrn = MakeLayer("local_response_normalization", R"({"alpha": 0.3, "n": 5})");
  auto bn = MakeLayer("batch_norm_inv_std", R"({"axes": [0, 2]})",
                      {Tensor<float>({7, 3}, std::vector<float>(21, 1.5f)), Tensor<float>({7, 3}),
                       Tensor<float>({7, 3}, std::vector<float>(21, 0.25f)),
                       Tensor<float>({7, 3}, std::vector<float>(21, 3.f))});
  auto bn_rows = MakeLayer("batch_norm_inv_std", "{}", params);
  ASSERT_TRUE(lrn.ok() && bn.ok() && bn_rows.ok());
  for (const LayerPtr<float>* layer : {&*lrn, &*bn, &*bn_rows}) {
    auto vector = RunLayer(**layer, x);
    ForcePortableKernels() = true;
    auto portable = RunLayer(**layer, x);
    ForcePortableKernels() = false;
    ASSERT_TRUE(vector.ok() && portable.ok());
    EXPECT_EQ(vector->values(), portable->values()) << (*layer)->spec().op;
  }
}

}  // namespace
}  // namespace theano_serving
