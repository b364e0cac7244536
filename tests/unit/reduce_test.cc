// sum, mean, max, min over non-batch axes: Theano's accumulator dtype, mean's divisions, NaN
// semantics, keepdims, errors, float64. GlobalPoolLayer's mean is pinned against Theano in
// import_ops_test.cc.
#include "core/ops/reduce.h"

#include <cmath>
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

// x (2, 2, 3) = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]
const Tensor<float> kX({2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});

TEST(ReduceTest, OpsAreListed) {
  EXPECT_THAT(ReduceOps(), ElementsAre("max", "mean", "min", "sum"));
}

TEST(ReduceTest, SumOverOneAndTwoAxesWithAndWithoutKeepdims) {
  // sum axis 2 = [[6, 15], [24, 33]]; axis (1, 2) = [21, 57]; axis 1 = [[5, 7, 9], [17, 19, 21]]
  // (by hand)
  auto s = RunOp("sum", R"({"axis": 2})", kX);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->shape(), (Shape{2, 2}));
  EXPECT_THAT(s->values(), ElementsAre(6, 15, 24, 33));
  s = RunOp("sum", R"({"axis": [1, 2]})", kX);
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(s->values(), ElementsAre(21, 57));
  s = RunOp("sum", R"({"axis": 1, "keepdims": true})", kX);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape(), (Shape{2, 1, 3}));
  EXPECT_THAT(s->values(), ElementsAre(5, 7, 9, 17, 19, 21));
  s = RunOp("sum", R"({"axis": [-1, -2], "keepdims": true})", kX);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape(), (Shape{2, 1, 1}));
  EXPECT_THAT(s->values(), ElementsAre(21, 57));
}

// Theano's Sum of float32 accumulates in float64 (CAReduceDtype's acc_dtype) and casts the result:
// 1e8 + 1 - 1e8 = 1, where a float32 accumulator would give 0 (by hand).
TEST(ReduceTest, SumOfFloat32AccumulatesInFloat64) {
  auto s = RunOp("sum", R"({"axis": 1})", Tensor<float>({1, 3}, {1e8f, 1, -1e8f}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data()[0], 1.f);
}

// mean = sum cast to T, then one division per axis by the axis size in T, in the order given:
// (17 / 3) / 7 = 0.80952376f, not 17 / 21 = 0.8095238f (by hand).
TEST(ReduceTest, MeanDividesOncePerAxis) {
  auto m = RunOp("mean", R"({"axis": 2})", kX);
  ASSERT_TRUE(m.ok());
  EXPECT_THAT(m->values(), ElementsAre(2, 5, 8, 11));
  Tensor<float> x({1, 3, 7});
  x.data()[5] = 17;
  m = RunOp("mean", R"({"axis": [1, 2]})", x);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->data()[0], (17.f / 3) / 7);
  EXPECT_EQ(m->data()[0], 0.80952376f);
  m = RunOp("mean", R"({"axis": [2, 1]})", x);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->data()[0], (17.f / 7) / 3);
  // 7 / 3 in float32.
  m = RunOp("mean", R"({"axis": 1})", Tensor<float>({1, 3}, {1, 2, 4}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->data()[0], 2.3333333f);
}

// CAReduce{maximum} with ScalarMaximum's C code: NaN wins, -inf is a value like any other
// (by hand).
TEST(ReduceTest, MaxAndMinPropagateNaN) {
  const float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
  Tensor<float> x({3, 3}, {1, nan, 3, -inf, -inf, -inf, -2, 5, 0});
  auto mx = RunOp("max", R"({"axis": 1})", x);
  ASSERT_TRUE(mx.ok());
  EXPECT_TRUE(std::isnan(mx->data()[0]));
  EXPECT_EQ(mx->data()[1], -inf);
  EXPECT_EQ(mx->data()[2], 5.f);
  auto mn = RunOp("min", R"({"axis": -1})", x);
  ASSERT_TRUE(mn.ok());
  EXPECT_TRUE(std::isnan(mn->data()[0]));
  EXPECT_EQ(mn->data()[1], -inf);
  EXPECT_EQ(mn->data()[2], -2.f);
  // Over a middle axis: max over axis 1 of kX = [[4, 5, 6], [10, 11, 12]].
  mx = RunOp("max", R"({"axis": 1})", kX);
  ASSERT_TRUE(mx.ok());
  EXPECT_THAT(mx->values(), ElementsAre(4, 5, 6, 10, 11, 12));
}

TEST(ReduceTest, EmptyAxes) {
  // sum over an empty axis is 0, mean 0 / 0 = NaN; max and min have no identity: an error
  // (Theano: "Input of CAReduce{maximum} has zero-size on axis 1").
  auto s = RunOp("sum", R"({"axis": 1})", Tensor<float>({2, 0}));
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(s->values(), ElementsAre(0, 0));
  auto m = RunOp("mean", R"({"axis": 1})", Tensor<float>({1, 0}));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(std::isnan(m->data()[0]));
  auto mx = RunOp("max", R"({"axis": 1})", Tensor<float>({2, 0}));
  EXPECT_EQ(mx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      mx.status().message(),
      HasSubstr("max \"layer\": max over axis 1 of size 0 (input (2, 0)): the reduction has no "
                "identity"));
  // An empty batch is fine.
  s = RunOp("max", R"({"axis": 1})", Tensor<float>({0, 3}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape(), (Shape{0}));
}

TEST(ReduceTest, Float64MatchesNaiveLoops) {
  std::mt19937 rng(2);
  std::normal_distribution<double> dist;
  Tensor<double> x({2, 3, 4, 5});
  for (double& v : x.values()) v = dist(rng);
  auto m = RunOp("mean", R"({"axis": [3, 1]})", x);
  auto mx = RunOp("max", R"({"axis": [1, 3]})", x);
  ASSERT_TRUE(m.ok() && mx.ok());
  ASSERT_EQ(m->shape(), (Shape{2, 4}));
  for (int n = 0; n < 2; ++n) {
    for (int h = 0; h < 4; ++h) {
      double s = 0, best = -INFINITY;
      for (int c = 0; c < 3; ++c) {
        for (int w = 0; w < 5; ++w) {
          const double v = x.data()[((n * 3 + c) * 4 + h) * 5 + w];
          s += v;
          best = std::max(best, v);
        }
      }
      EXPECT_NEAR(m->data()[n * 4 + h], s / 15, 1e-15);
      EXPECT_EQ(mx->data()[n * 4 + h], best);
    }
  }
}

TEST(ReduceTest, Errors) {
  auto message = [](const char* op, const char* attrs, const Shape& in) {
    auto layer = MakeLayer<float>(op, attrs);
    if (!layer.ok()) return std::string(layer.status().message());
    std::vector<Shape> shapes = {in};
    auto s = (*layer)->OutputShape(shapes);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.status().message());
  };
  EXPECT_THAT(
      message("sum", R"({"axis": 0})", {2, 3}),
      HasSubstr("sum \"layer\": attribute axis 0 includes 0, the batch axis, which is never "
                "reduced"));
  EXPECT_THAT(message("mean", R"({"axis": [1, 0]})", {2, 3}), HasSubstr("includes 0"));
  EXPECT_THAT(
      message("sum", R"({"axis": -3})", {2, 3, 4}),
      HasSubstr("sum \"layer\": axis -3 is axis 0 of input (2, 3, 4), the batch axis, which is "
                "never reduced"));
  EXPECT_THAT(message("max", R"({"axis": 3})", {2, 3, 4}),
              HasSubstr("axis 3 is out of range for input (2, 3, 4) of rank 3"));
  EXPECT_THAT(message("min", R"({"axis": [2, -1]})", {2, 3, 4}),
              HasSubstr("axis 2 of input (2, 3, 4) is named twice in axis (2, -1)"));
  EXPECT_THAT(message("sum", "{}", {2, 3}), HasSubstr("attribute axis is required"));
  EXPECT_THAT(message("sum", R"({"axis": -9223372036854775808})", {2, 3}),
              HasSubstr("is out of range for input (2, 3) of rank 2"));
  EXPECT_THAT(message("sum", R"({"axis": []})", {2, 3}),
              HasSubstr("attribute axis must name at least one axis"));
  EXPECT_THAT(message("sum", R"({"axis": "1"})", {2, 3}),
              HasSubstr("attribute axis must be an integer or a list of integers, got \"1\""));
  EXPECT_THAT(message("sum", R"({"axis": 1, "keepdims": 1})", {2, 3}),
              HasSubstr("attribute keepdims must be true or false, got 1"));
  EXPECT_THAT(message("sum", R"({"axis": 1, "dtype": "float64"})", {2, 3}),
              HasSubstr("unknown attribute dtype"));
  EXPECT_THAT(MakeLayer<float>("sum", R"({"axis": 1})", {Tensor<float>({1})}).status().message(),
              HasSubstr("expects 0 parameters"));
}

}  // namespace
}  // namespace theano_serving
