// softmax / log_softmax: Theano's row-wise C algorithm, shapes and errors.
#include "core/ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/layer_testing.h"

namespace theano_serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::MakeLayer;
using testing_util::RunOp;

// The op (no attributes) on `x`, which it must accept.
template <typename T>
Tensor<T> Apply(const std::string& op, const Tensor<T>& x) {
  absl::StatusOr<Tensor<T>> y = RunOp(op, "{}", x);
  EXPECT_TRUE(y.ok()) << y.status();
  return y.ok() ? *std::move(y) : Tensor<T>();
}

TEST(SoftmaxTest, HandComputedRow) {
  // x = [1, 2, 3]: e^(x - 3) = [e^-2, e^-1, 1], sum = 1.5032147; softmax =
  // [0.09003057, 0.24472847, 0.66524096]  (by hand; the first two also in
  // Theano 1.0.5's softmax_3x3_extreme).
  Tensor<float> y = Apply("softmax", Tensor<float>({1, 3}, {1.f, 2.f, 3.f}));
  ASSERT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_NEAR(y.data()[0], 0.09003057, 1e-8);
  EXPECT_NEAR(y.data()[1], 0.24472847, 3e-8);
  EXPECT_NEAR(y.data()[2], 0.66524096, 6e-8);  // 1 ulp
}

TEST(LogSoftmaxTest, HandComputedRow) {
  // log_softmax([1, 2, 3]) = x - 3 - log(1.5032147) = [-2.4076059, -1.4076059,
  // -0.4076059] (by hand; Theano 1.0.5 gives -2.407606, -1.407606 in
  // softmax_3x3_extreme).
  Tensor<float> y = Apply("log_softmax", Tensor<float>({1, 3}, {1.f, 2.f, 3.f}));
  ASSERT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_NEAR(y.data()[0], -2.4076059, 2e-7);
  EXPECT_NEAR(y.data()[1], -1.4076059, 2e-7);
  EXPECT_NEAR(y.data()[2], -0.4076059, 2e-7);
}

// Subtracting the row max keeps +-1000 logits finite (Theano 1.0.5, shared
// golden set: softmax_3x3_extreme row 0).
TEST(SoftmaxTest, ExtremeLogits) {
  Tensor<float> x({2, 3}, {1000.f, 0.f, -1000.f, -500.f, -500.f, -500.f});
  EXPECT_THAT(Apply("softmax", x).values(), ElementsAre(1.f, 0.f, 0.f, 1.f / 3, 1.f / 3, 1.f / 3));
  Tensor<float> log = Apply("log_softmax", x);
  EXPECT_EQ(log.data()[0], 0.f);
  EXPECT_EQ(log.data()[1], -1000.f);
  EXPECT_EQ(log.data()[2], -2000.f);
  EXPECT_NEAR(log.data()[3], -std::log(3.0), 1e-7);
}

// Equal entries give exactly 1/n (Theano 1.0.5, softmax_2x5_equal_rows: 0.2 and
// -1.609438).
TEST(SoftmaxTest, EqualRows) {
  Tensor<float> x({1, 5}, {2.5f, 2.5f, 2.5f, 2.5f, 2.5f});
  EXPECT_THAT(Apply("softmax", x).values(), ElementsAre(0.2f, 0.2f, 0.2f, 0.2f, 0.2f));
  EXPECT_EQ(Apply("log_softmax", x).data()[0], -1.609438f);
}

// A 1-D input of n is padded to (1, n), as Softmax.make_node does.
TEST(SoftmaxTest, VectorInputBecomesOneRow) {
  Tensor<float> y = Apply("softmax", Tensor<float>({4}, {0.f, 0.f, 0.f, 0.f}));
  EXPECT_EQ(y.shape(), (Shape{1, 4}));
  EXPECT_THAT(y.values(), ElementsAre(0.25f, 0.25f, 0.25f, 0.25f));
  EXPECT_EQ(Apply("log_softmax", Tensor<float>({3})).shape(), (Shape{1, 3}));
}

TEST(SoftmaxTest, EmptyBatch) {
  EXPECT_EQ(Apply("softmax", Tensor<float>({0, 5})).shape(), (Shape{0, 5}));
}

TEST(SoftmaxTest, ErrorsNameLayerAndShape) {
  auto layer = MakeLayer("softmax");
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in3d = {{2, 3, 4}};
  auto shape = (*layer)->OutputShape(in3d);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(),
              HasSubstr("softmax \"layer\": input must be 1-D or 2-D, got (2, 3, 4) of rank 3"));
  std::vector<Shape> scalar = {{}};
  EXPECT_FALSE((*layer)->OutputShape(scalar).ok());

  auto attr = MakeLayer("log_softmax", R"({"axis": 1})");
  EXPECT_EQ(attr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(attr.status().message(), HasSubstr("log_softmax \"layer\": unknown attribute axis"));

  auto param = MakeLayer("softmax", "{}", {Tensor<float>({3})});
  EXPECT_EQ(param.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(param.status().message(), HasSubstr("expects 0 parameters"));
}

// Naive double formulas on random rows with large offsets.
TEST(SoftmaxTest, RandomSweepMatchesNaiveFormula) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.f, 5.f);
  const int rows = 40, cols = 17;
  Tensor<float> x({rows, cols});
  for (int i = 0; i < rows; ++i) {
    const float offset = (i % 4 == 0) ? 1000.f : (i % 4 == 1) ? -500.f : 0.f;
    for (int j = 0; j < cols; ++j) x.data()[i * cols + j] = offset + dist(rng);
  }
  Tensor<float> sm = Apply("softmax", x);
  Tensor<float> lsm = Apply("log_softmax", x);
  for (int i = 0; i < rows; ++i) {
    const float* r = x.data() + i * cols;
    double mx = r[0];
    for (int j = 1; j < cols; ++j) mx = std::max<double>(mx, r[j]);
    double sum = 0;
    for (int j = 0; j < cols; ++j) sum += std::exp(r[j] - mx);
    for (int j = 0; j < cols; ++j) {
      const double want = std::exp(r[j] - mx) / sum;
      ASSERT_NEAR(sm.data()[i * cols + j], want, 1e-7 + 1e-6 * want) << i << "," << j;
      const double want_log = r[j] - mx - std::log(sum);
      ASSERT_NEAR(lsm.data()[i * cols + j], want_log, 1e-6 + 1e-6 * std::fabs(want_log));
    }
  }
}

TEST(SoftmaxTest, Float64) {
  Tensor<double> y = Apply("softmax", Tensor<double>({1, 3}, {1.0, 2.0, 3.0}));
  const double sum = std::exp(-2.0) + std::exp(-1.0) + 1.0;
  EXPECT_NEAR(y.data()[0], std::exp(-2.0) / sum, 1e-16);
  EXPECT_NEAR(y.data()[2], 1.0 / sum, 1e-16);
  Tensor<double> l = Apply("log_softmax", Tensor<double>({1, 3}, {1.0, 2.0, 3.0}));
  EXPECT_NEAR(l.data()[0], -2.0 - std::log(sum), 1e-15);
}

}  // namespace
}  // namespace theano_serving
