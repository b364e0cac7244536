// batch_normalization_test: axes forms, parameter layouts, epsilon and errors.
#include "core/ops/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/layer_testing.h"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;
using testing_util::MakeSpec;
using testing_util::RunValid;

template <typename T = float>
absl::StatusOr<LayerPtr<T>> Make(const char* attrs_json, std::vector<Tensor<T>> params) {
  return MakeBatchNormalizationTest<T>(MakeSpec("batch_normalization_test", attrs_json, "bn"),
                                       std::move(params));
}

// Four parameters of one shape: gamma, beta, mean, var.
std::vector<Tensor<float>> Params(const Shape& shape, std::vector<float> gamma,
                                  std::vector<float> beta, std::vector<float> mean,
                                  std::vector<float> var) {
  return {Tensor<float>(shape, std::move(gamma)), Tensor<float>(shape, std::move(beta)),
          Tensor<float>(shape, std::move(mean)), Tensor<float>(shape, std::move(var))};
}

TEST(BatchNormTest, SpatialHandComputed) {
  // x (1, 2, 1, 2) = [[[[3, 5]], [[0, 1]]]], epsilon 1e-4,
  // channel 0: gamma 2, beta 0.5, mean 1, var 4  -> (x - 1) * 2 / sqrt(4.0001)
  // + 0.5
  //            = [2.4999750, 4.4999500]
  // channel 1: gamma 1, beta 0, mean 0, var 0.9999 -> x / sqrt(1.0) = [0, 1]
  // (by hand)
  auto layer = Make(R"({"axes": "spatial"})",
                    Params({1, 2, 1, 1}, {2.f, 1.f}, {0.5f, 0.f}, {1.f, 0.f}, {4.f, 0.9999f}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> y = RunValid(**layer, Tensor<float>({1, 2, 1, 2}, {3.f, 5.f, 0.f, 1.f}));
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1, 2}));
  EXPECT_NEAR(y.data()[0], 2.4999750, 3e-7);
  EXPECT_NEAR(y.data()[1], 4.4999500, 5e-7);
  EXPECT_EQ(y.data()[2], 0.f);
  EXPECT_NEAR(y.data()[3], 1.0, 1e-7);
  EXPECT_EQ((*layer)->NumParams(), 8);
}

TEST(BatchNormTest, PerActivationFullAndReducedParamsAgree) {
  // per-activation on (2, 3): params (1, 3) or (3,), each column its own
  // statistics. column j: gamma 1, beta j, mean 1, var 1 - 1e-4 -> x - 1 + j
  // (up to rounding)  (by hand)
  const float v = 1.f - 1e-4f;
  auto full = Make(R"({"axes": "per-activation", "epsilon": 1e-4})",
                   Params({1, 3}, {1, 1, 1}, {0, 1, 2}, {1, 1, 1}, {v, v, v}));
  auto reduced =
      Make(R"({"epsilon": 1e-4})", Params({3}, {1, 1, 1}, {0, 1, 2}, {1, 1, 1}, {v, v, v}));
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_TRUE(reduced.ok()) << reduced.status();
  Tensor<float> x({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  Tensor<float> a = RunValid(**full, x);
  Tensor<float> b = RunValid(**reduced, x);
  EXPECT_EQ(a.values(), b.values());
  const float want[] = {0, 2, 4, 3, 5, 7};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(a.data()[i], want[i], 1e-6) << i;
}

TEST(BatchNormTest, ExplicitAxesEqualSpatial) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  Tensor<float> x({2, 3, 4, 5});
  for (float& f : x.values()) f = dist(rng);
  auto p = Params({1, 3, 1, 1}, {0.5f, -1.f, 2.f}, {0.1f, 0.2f, 0.3f}, {0.f, 1.f, -1.f},
                  {1.f, 0.25f, 4.f});
  auto spatial = Make(R"({"axes": "spatial"})", p);
  auto list = Make(R"({"axes": [3, 0, 2]})", p);  // unsorted, as Theano allows
  ASSERT_TRUE(spatial.ok() && list.ok());
  EXPECT_EQ(RunValid(**spatial, x).values(), RunValid(**list, x).values());
}

TEST(BatchNormTest, ErrorsNameLayerAndValues) {
  auto p = Params({1, 3, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1});
  // Theano 1.0.5, shared golden set: bn_test_error_bad_axes_string.
  auto bad_axes = Make(R"({"axes": "channel"})", p);
  EXPECT_EQ(bad_axes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_axes.status().message(),
              HasSubstr("batch_normalization_test \"bn\": invalid axes \"channel\""));

  auto empty_axes = Make(R"({"axes": []})", p);
  EXPECT_THAT(empty_axes.status().message(), HasSubstr("at least one normalization axis"));

  auto small_eps = Make(R"({"epsilon": 1e-6})", p);
  EXPECT_EQ(small_eps.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(small_eps.status().message(), HasSubstr("epsilon must be at least 1e-5, got 1e-06"));
  // float32(1e-5) < 1e-5, so Theano rejects 1e-5 itself in float32.
  EXPECT_FALSE(Make(R"({"epsilon": 1e-5})", p).ok());

  auto meta = Make(R"({"epsilon_passed": false})", p);
  EXPECT_THAT(meta.status().message(), HasSubstr("unknown attribute epsilon_passed"));

  auto three = Make("{}", {p[0], p[1], p[2]});
  EXPECT_THAT(three.status().message(),
              HasSubstr("expects 4 parameters (gamma, beta, mean, var), got 3"));

  auto mixed = Make("{}", {p[0], p[1], p[2], Tensor<float>({3}, {1, 1, 1})});
  EXPECT_THAT(mixed.status().message(), HasSubstr("var has shape (3,) but gamma has (1, 3, 1, 1)"));

  auto layer = Make(R"({"axes": "spatial"})", p);
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> four_channels = {{2, 4, 5, 5}};
  auto shape = (*layer)->OutputShape(four_channels);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(),
              HasSubstr("parameters of shape (1, 3, 1, 1) do not fit input (2, 4, 5, 5)"));

  auto far = Make(R"({"axes": [0, 4]})", p);
  ASSERT_TRUE(far.ok());
  std::vector<Shape> rank4 = {{2, 3, 5, 5}};
  EXPECT_THAT((*far)->OutputShape(rank4).status().message(),
              HasSubstr("axes should be less than ndim (<4), but (0, 4) given"));

  std::vector<Shape> rank3 = {{2, 3, 5}};
  EXPECT_THAT((*layer)->OutputShape(rank3).status().message(), HasSubstr("parameters have rank 4"));
}

// (x - mean) * (gamma / sqrt(var + eps)) + beta written out in double.
TEST(BatchNormTest, RandomSweepMatchesNaiveFormula) {
  std::mt19937 rng(9);
  std::normal_distribution<float> dist;
  std::uniform_real_distribution<float> pos(0.01f, 3.f);
  const int n = 3, c = 4, h = 5, w = 2;
  Tensor<float> x({n, c, h, w});
  for (float& f : x.values()) f = dist(rng) * 3;
  std::vector<float> g(c), b(c), m(c), v(c);
  for (int k = 0; k < c; ++k) g[k] = dist(rng), b[k] = dist(rng), m[k] = dist(rng), v[k] = pos(rng);
  auto layer = Make(R"({"axes": "spatial", "epsilon": 0.001})", Params({1, c, 1, 1}, g, b, m, v));
  ASSERT_TRUE(layer.ok());
  Tensor<float> y = RunValid(**layer, x);
  for (int i = 0; i < n * c * h * w; ++i) {
    const int k = (i / (h * w)) % c;
    const double want = (x.data()[i] - static_cast<double>(m[k])) *
                            (g[k] / std::sqrt(static_cast<double>(v[k]) + 0.001)) +
                        b[k];
    ASSERT_NEAR(y.data()[i], want, 1e-6 + 1e-6 * std::fabs(want)) << i;
  }
}

TEST(BatchNormTest, Float64) {
  std::vector<Tensor<double>> p = {Tensor<double>({2}, {2.0, 1.0}), Tensor<double>({2}, {0.5, 0}),
                                   Tensor<double>({2}, {1.0, 0.0}),
                                   Tensor<double>({2}, {4.0, 1.0})};
  auto layer = Make<double>(R"({"axes": [0, 2]})", p);
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<double> y = RunValid(**layer, Tensor<double>({1, 2, 1}, {3.0, 1.0}));
  EXPECT_NEAR(y.data()[0], 2.0 * 2.0 / std::sqrt(4.0001) + 0.5, 1e-15);
  EXPECT_NEAR(y.data()[1], 1.0 / std::sqrt(1.0001), 1e-15);
}

}  // namespace
}  // namespace theano_serving
