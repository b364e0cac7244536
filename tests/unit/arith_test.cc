// Element-wise arithmetic with broadcasting (add, sub, mul, true_div, maximum, minimum, pow):
// operands, Theano's rewrites of constants, the batch-axis rules, errors, float and double.
#include "core/ops/arith.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/layer_factory.h"
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

// The float32 op on one input of shape (1, x.size()) and the layer's params.
std::vector<float> Eval(const std::string& op, const char* attrs, std::vector<float> x,
                        std::vector<Tensor<float>> params = {}) {
  auto layer = MakeLayer(op, attrs, std::move(params));
  EXPECT_TRUE(layer.ok()) << layer.status();
  if (!layer.ok()) return {};
  const Shape shape = {1, static_cast<int64_t>(x.size())};  // Axis 0 is the batch.
  auto y = RunLayer(**layer, {Tensor<float>(shape, std::move(x))});
  EXPECT_TRUE(y.ok()) << y.status();
  return y.ok() ? y->values() : std::vector<float>{};
}

TEST(ArithTest, OpsAreRegistered) {
  EXPECT_THAT(ArithOps(),
              ElementsAre("add", "maximum", "minimum", "mul", "pow", "sub", "true_div"));
  for (const std::string& op : ArithOps()) {
    LayerSpec spec;
    spec.op = op;
    EXPECT_TRUE(CreateLayer<float>(spec, {}).ok()) << op;
    EXPECT_TRUE(CreateLayer<double>(spec, {}).ok()) << op;
  }
}

TEST(ArithTest, AddBroadcastsAParamOverTheBatch) {
  // x (2, 3) = [[1, 2, 3],    b (3,) = [10, 20, 30]
  //             [4, 5, 6]]
  // x + b = [[11, 22, 33], [14, 25, 36]]   (by hand)
  auto layer = MakeLayer("add", "{}", {Tensor<float>({3}, {10, 20, 30})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->min_inputs(), 1);
  auto y = RunLayer(**layer, {Tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_THAT(y->values(), ElementsAre(11, 22, 33, 14, 25, 36));
  EXPECT_EQ((*layer)->NumParams(), 3);
}

TEST(ArithTest, MulByAPerChannelScale) {
  // x (1, 2, 1, 2) = [[[[1, 2]], [[3, 4]]]], scales (2, 1, 1) = [10, -1] (ScaleLayer's layout)
  // x * scales = [[[[10, 20]], [[-3, -4]]]]   (by hand)
  auto layer = MakeLayer("mul", "{}", {Tensor<float>({2, 1, 1}, {10, -1})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  auto y = RunLayer(**layer, {Tensor<float>({1, 2, 1, 2}, {1, 2, 3, 4})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values(), ElementsAre(10, 20, -3, -4));
}

TEST(ArithTest, BroadcastingBetweenGraphInputsAndParamsOfEveryRank) {
  // a (2, 1, 3) + b (2, 2, 1) + p (1, 1, 3):
  // a = [[[1, 2, 3]], [[4, 5, 6]]], b = [[[10], [20]], [[30], [40]]], p = [[[100, 200, 300]]]
  // out[n, i, j] = a[n, 0, j] + b[n, i, 0] + p[0, 0, j]   (by hand)
  auto layer = MakeLayer("add", "{}", {Tensor<float>({1, 1, 3}, {100, 200, 300})});
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, {Tensor<float>({2, 1, 3}, {1, 2, 3, 4, 5, 6}),
                              Tensor<float>({2, 2, 1}, {10, 20, 30, 40})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{2, 2, 3}));
  EXPECT_THAT(y->values(), ElementsAre(111, 212, 313, 121, 222, 323, 134, 235, 336, 144, 245, 346));
}

TEST(ArithTest, OperandsOrderInputsParamsAndConstants) {
  // sub: param - input: [10, 20] - [1, 2] = [9, 18]; input - param = [-9, -18]   (by hand)
  EXPECT_THAT(Eval("sub", R"({"operands": ["param:0", "input:0"]})", {1, 2},
                   {Tensor<float>({2}, {10, 20})}),
              ElementsAre(9, 18));
  EXPECT_THAT(Eval("sub", "{}", {1, 2}, {Tensor<float>({2}, {10, 20})}), ElementsAre(-9, -18));
  // true_div: 1 / x and x / [2, 8]
  EXPECT_THAT(Eval("true_div", R"({"operands": [1, "input:0"]})", {2, -4}),
              ElementsAre(0.5f, -0.25f));
  EXPECT_THAT(Eval("true_div", "{}", {1, 2}, {Tensor<float>({2}, {2, 8})}),
              ElementsAre(0.5f, 0.25f));
  // Two graph inputs in swapped order: input 1 - input 0.
  auto swapped = MakeLayer("sub", R"({"operands": ["input:1", "input:0"]})");
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ((*swapped)->min_inputs(), 2);
  EXPECT_EQ((*swapped)->max_inputs(), 2);
  auto y = RunLayer(**swapped, {Tensor<float>({1, 2}, {1, 2}), Tensor<float>({1, 2}, {10, 30})});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(y->values(), ElementsAre(9, 28));
}

// Theano's Canonizer puts the combined constant first: add(x, y, 1.5) runs as (1.5 + x) + y.
// With x = 1e8 and y = -1e8 that is 0 in float32 (1e8 + 1.5 rounds to 1e8), not 1.5 (by hand).
TEST(ArithTest, AddAndMulCombineConstantsFirstAsTheanosCanonizer) {
  auto add = MakeLayer("add", R"({"operands": ["input:0", "input:1", 1.5]})");
  ASSERT_TRUE(add.ok()) << add.status();
  auto y = RunLayer(**add, {Tensor<float>({1, 1}, {1e8f}), Tensor<float>({1, 1}, {-1e8f})});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->data()[0], 0.f);
  // mul(2, x, 3) = 6 * x; mul(x, 0.5, 2) = x (the constant 1 is dropped).
  EXPECT_THAT(Eval("mul", R"({"operands": [2, "input:0", 3]})", {1, -2}), ElementsAre(6, -12));
  EXPECT_THAT(Eval("mul", R"({"operands": ["input:0", 0.5, 2]})", {7, -0.f}), ElementsAre(7, -0.f));
  // add(x, 0) is x itself: -0 stays -0 (a real addition would give +0).
  std::vector<float> z = Eval("add", R"({"operands": ["input:0", 0]})", {-0.f, 3});
  ASSERT_EQ(z.size(), 2u);
  EXPECT_TRUE(std::signbit(z[0]));
  EXPECT_EQ(z[1], 3.f);
  // mul(x, 0) is 0 everywhere (local_mul_specialize), even for inf and NaN.
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(Eval("mul", R"({"operands": ["input:0", 0]})", {inf, std::nanf(""), -2}),
              ElementsAre(0, 0, 0));
}

// true_div(x, c) becomes mul(1 / c, x): 5 / 3 = 1.6666666f, but Theano computes
// 5 * 0.33333334f = 1.6666667f (by hand, float32).
TEST(ArithTest, DivisionByAConstantMultipliesByTheReciprocal) {
  EXPECT_THAT(Eval("true_div", R"({"operands": ["input:0", 3]})", {5, 7}),
              ElementsAre(1.6666667f, 2.3333335f));
  EXPECT_THAT(Eval("true_div", R"({"operands": ["input:0", 1]})", {5, -0.f}), ElementsAre(5, -0.f));
  // A param divisor is a real division.
  EXPECT_THAT(Eval("true_div", "{}", {5}, {Tensor<float>({1}, {3})}), ElementsAre(1.6666666f));
}

// sub(0, x) is neg(x): -0 for x = +0 (0 - 0 would be +0).
TEST(ArithTest, SubFromZeroIsNeg) {
  std::vector<float> y = Eval("sub", R"({"operands": [0, "input:0"]})", {0.f, 2});
  ASSERT_EQ(y.size(), 2u);
  EXPECT_TRUE(std::signbit(y[0]));
  EXPECT_EQ(y[1], -2.f);
  EXPECT_THAT(Eval("sub", R"({"operands": ["input:0", 1.5]})", {2}), ElementsAre(0.5f));
}

// ScalarMaximum / ScalarMinimum: NaN if either operand is NaN; of +0 and -0 the first (by hand from
// the C code in theano/scalar/basic.py).
TEST(ArithTest, MaximumAndMinimumFollowTheanosCCode) {
  const float nan = std::nanf("");
  auto max = MakeLayer("maximum");
  ASSERT_TRUE(max.ok());
  auto y = RunLayer(**max, {Tensor<float>({1, 5}, {1, nan, 3, -0.f, 0.f}),
                            Tensor<float>({1, 5}, {nan, 2, 2, 0.f, -0.f})});
  ASSERT_TRUE(y.ok());
  EXPECT_TRUE(std::isnan(y->data()[0]));
  EXPECT_TRUE(std::isnan(y->data()[1]));
  EXPECT_EQ(y->data()[2], 3.f);
  EXPECT_TRUE(std::signbit(y->data()[3]));
  EXPECT_FALSE(std::signbit(y->data()[4]));
  auto min = MakeLayer("minimum", R"({"operands": ["input:0", 0, "input:1"]})");
  ASSERT_TRUE(min.ok());
  y = RunLayer(**min, {Tensor<float>({1, 3}, {1, -5, nan}), Tensor<float>({1, 3}, {-1, 2, 1})});
  ASSERT_TRUE(y.ok());
  // min(min(x, 0), z): [-1, -5, NaN]
  EXPECT_EQ(y->data()[0], -1.f);
  EXPECT_EQ(y->data()[1], -5.f);
  EXPECT_TRUE(std::isnan(y->data()[2]));
  // Relu as maximum(x, 0) keeps the first operand on ties: maximum(-0, 0) = -0.
  EXPECT_TRUE(std::signbit(Eval("maximum", R"({"operands": ["input:0", 0]})", {-0.f})[0]));
}

// pow(x, constant) as Theano's optimizer rewrites it: 2 -> x * x, 0.5 -> sqrt, integers -> a
// product of squares, 0 -> 1; other exponents -> powf.
TEST(ArithTest, PowByAConstantIsSpecialisedAsTheano) {
  // x^3 = (x * x) * x: 1.00042307f for x = 1.00014102f, where powf gives 1.00042319f (by hand).
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", 3]})", {1.00014102f, 2}),
              ElementsAre(1.00042307f, 8));
  // sqrt(-0) = -0 where powf(-0, 0.5) = +0; 4^0.5 = 2.
  std::vector<float> r = Eval("pow", R"({"operands": ["input:0", 0.5]})", {-0.f, 4});
  EXPECT_TRUE(std::signbit(r[0]));
  EXPECT_EQ(r[1], 2.f);
  // x^0 = 1 even for NaN; x^-1 = 1 / x; x^-2 = 1 / (x * x); x^1 = x.
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", 0]})", {std::nanf(""), 5}),
              ElementsAre(1, 1));
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", -1]})", {4}), ElementsAre(0.25f));
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", -2]})", {4}), ElementsAre(0.0625f));
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", 1]})", {-3}), ElementsAre(-3));
  // x^13 = ((x^8 * x^4) * x); x^-3 = 1 / ((x * x) * x).
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", 13]})", {2}), ElementsAre(8192));
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", -3]})", {2}), ElementsAre(0.125f));
  // Non-integer exponent: powf(2, 0.75) = 1.6817929f; a constant base: powf(2, x).
  EXPECT_THAT(Eval("pow", R"({"operands": ["input:0", 0.75]})", {2}), ElementsAre(1.6817929f));
  EXPECT_THAT(Eval("pow", R"({"operands": [2, "input:0"]})", {3, -1}), ElementsAre(8, 0.5f));
  // A param exponent: std::pow elementwise.
  EXPECT_THAT(Eval("pow", "{}", {2, 9}, {Tensor<float>({2}, {3, 0.5f})}), ElementsAre(8, 3));
}

TEST(ArithTest, Float64) {
  auto layer = MakeLayer<double>("true_div", R"({"operands": ["input:0", 10]})");
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, {Tensor<double>({1, 2}, {1.0, 3.0})});
  ASSERT_TRUE(y.ok());
  // x * (1 / 10.0) in double: 3 * 0.1 = 0.30000000000000004 (3 / 10.0 would be 0.3; by hand).
  EXPECT_EQ(y->data()[0], 0.1);
  EXPECT_EQ(y->data()[1], 3 * 0.1);
  auto max = MakeLayer<double>("maximum", "{}", {Tensor<double>({1}, {0.5})});
  ASSERT_TRUE(max.ok());
  y = RunLayer(**max, {Tensor<double>({1, 3}, {0.25, 0.75, -1})});
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(y->values(), ElementsAre(0.5, 0.75, 0.5));
}

TEST(ArithTest, RandomSweepMatchesNaiveBroadcasting) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  Tensor<float> a({3, 4, 1, 5}), b({3, 1, 2, 5}), p({2, 1});
  for (Tensor<float>* t : {&a, &b, &p}) {
    for (float& f : t->values()) f = dist(rng);
  }
  auto layer = MakeLayer("mul", R"({"operands": ["input:0", "param:0", "input:1"]})", {p});
  ASSERT_TRUE(layer.ok()) << layer.status();
  auto y = RunLayer(**layer, {a, b});
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->shape(), (Shape{3, 4, 2, 5}));
  for (int n = 0; n < 3; ++n) {
    for (int c = 0; c < 4; ++c) {
      for (int h = 0; h < 2; ++h) {
        for (int w = 0; w < 5; ++w) {
          const float want =
              (a.data()[(n * 4 + c) * 5 + w] * p.data()[h]) * b.data()[(n * 2 + h) * 5 + w];
          ASSERT_EQ(y->data()[((n * 4 + c) * 2 + h) * 5 + w], want);
        }
      }
    }
  }
}

TEST(ArithTest, AddOfSameShapedInputsSumsLeftToRightAndLowersToTheFastSum) {
  std::mt19937 rng(4);
  std::normal_distribution<float> dist;
  std::vector<Tensor<float>> xs(4, Tensor<float>({2, 3, 5, 5}));
  for (auto& x : xs) {
    for (float& f : x.values()) f = dist(rng);
  }
  auto layer = MakeLayer("add");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ((*layer)->min_inputs(), 2);
  EXPECT_GT((*layer)->max_inputs(), 1000);
  auto y = RunLayer(**layer, xs);
  ASSERT_TRUE(y.ok());
  for (int64_t i = 0; i < y->size(); ++i) {
    const float want = ((xs[0].data()[i] + xs[1].data()[i]) + xs[2].data()[i]) + xs[3].data()[i];
    ASSERT_EQ(y->data()[i], want);
  }
  std::vector<Shape> same = {{2, 3}, {2, 3}};
  std::vector<Shape> different = {{2, 3}, {2, 1}};
  EXPECT_EQ((*layer)->Lower(same).kind, LoweredKind::kAdd);
  EXPECT_EQ((*layer)->Lower(different).kind, LoweredKind::kNone);
  auto with_param = MakeLayer("add", "{}", {Tensor<float>({3})});
  ASSERT_TRUE(with_param.ok());
  std::vector<Shape> one = {{2, 3}};
  EXPECT_EQ((*with_param)->Lower(one).kind, LoweredKind::kBiasAdd);  // Per channel: a bias.
  auto with_constant = MakeLayer("add", R"({"operands": ["input:0", "input:1", 1]})");
  ASSERT_TRUE(with_constant.ok());
  EXPECT_EQ((*with_constant)->Lower(same).kind, LoweredKind::kNone);
  auto swapped = MakeLayer("add", R"({"operands": ["input:1", "input:0"]})");
  ASSERT_TRUE(swapped.ok());
  EXPECT_EQ((*swapped)->Lower(same).kind, LoweredKind::kNone);
}

// One input and one parameter or scalar constants lower to the fast engine's steps: a
// per-channel add is a bias, a per-channel mul a scale, a parameter of another item-sized shape
// an add (mul) per item, constants only element-wise; a parameter larger than an item, two inputs
// with a parameter, or sub stay reference steps.
TEST(ArithTest, OneInputWithAParameterOrConstantsLowersToFastSteps) {
  const std::vector<Shape> image = {{2, 8, 11, 10}};
  auto kind = [&](const char* op, const char* attrs, std::vector<Tensor<float>> params,
                  std::vector<Shape> in) {
    auto layer = MakeLayer(op, attrs, std::move(params));
    EXPECT_TRUE(layer.ok()) << op << " " << attrs;
    return layer.ok() ? (*layer)->Lower(in).kind : LoweredKind::kNone;
  };
  EXPECT_EQ(kind("mul", "{}", {Tensor<float>({8, 1, 1})}, image), LoweredKind::kScale);
  EXPECT_EQ(kind("mul", "{}", {Tensor<float>({1, 8, 1, 1})}, image), LoweredKind::kScale);
  EXPECT_EQ(kind("add", "{}", {Tensor<float>({8, 1, 1})}, image), LoweredKind::kBiasAdd);
  EXPECT_EQ(kind("add", "{}", {Tensor<float>({8, 11, 10})}, image), LoweredKind::kParamArith);
  EXPECT_EQ(kind("mul", "{}", {Tensor<float>({11, 1})}, image), LoweredKind::kParamArith);
  EXPECT_EQ(kind("mul", R"({"operands": ["input:0", -0.5]})", {}, image),
            LoweredKind::kElementwise);
  EXPECT_EQ(kind("sub", R"({"operands": [1, "input:0"]})", {}, image), LoweredKind::kElementwise);
  EXPECT_EQ(kind("sub", "{}", {Tensor<float>({8, 1, 1})}, image), LoweredKind::kNone);
  EXPECT_EQ(kind("add", "{}", {Tensor<float>({3, 8, 11, 10})}, image), LoweredKind::kNone);
  EXPECT_EQ(kind("add", "{}", {Tensor<float>({8, 1, 1})}, {{2, 8, 11, 10}, {2, 8, 11, 10}}),
            LoweredKind::kNone);
}

TEST(ArithTest, ShapeErrorsNameTheOperands) {
  auto layer = MakeLayer("add", "{}", {Tensor<float>({8, 11, 9})}, {"untied"});
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 8, 11, 10}};
  auto s = (*layer)->OutputShape(in);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      s.status().message(),
      HasSubstr("add \"layer\": operands do not broadcast: input 0 (2, 8, 11, 10) and param 0 "
                "\"untied\" (8, 11, 9) differ on axis 3 of the output (10 vs 9)"));
  // A param of the output's rank must have size 1 on the batch axis.
  auto batch = MakeLayer("mul", "{}", {Tensor<float>({2, 3})}, {"s"});
  ASSERT_TRUE(batch.ok());
  in = {{2, 3}};
  EXPECT_THAT(
      (*batch)->OutputShape(in).status().message(),
      HasSubstr("mul \"layer\": param 0 \"s\" (2, 3) has size 2 on axis 0, the batch axis of "
                "input (2, 3); a parameter must have size 1 there or fewer axes"));
  // ... and may not have more axes than the input.
  auto deep = MakeLayer("mul", "{}", {Tensor<float>({1, 1, 3})}, {"s"});
  ASSERT_TRUE(deep.ok());
  EXPECT_THAT((*deep)->OutputShape(in).status().message(),
              HasSubstr("param 0 \"s\" (1, 1, 3) has rank 3, more than the input's 2 (input (2, "
                        "3)); it would broadcast the batch axis"));
  // Graph inputs share a rank.
  auto two = MakeLayer("maximum");
  ASSERT_TRUE(two.ok());
  in = {{2, 3}, {3}};
  EXPECT_THAT((*two)->OutputShape(in).status().message(),
              HasSubstr("input 1 (3,) has rank 1 but input 0 (2, 3) has rank 2"));
  in = {{2, 3}};
  EXPECT_THAT((*two)->OutputShape(in).status().message(),
              HasSubstr("takes at least 2 inputs, got 1"));
}

TEST(ArithTest, AttributeAndParameterErrors) {
  auto message = [](const std::string& op, const char* attrs, int num_params = 0) {
    std::vector<Tensor<float>> params(static_cast<size_t>(num_params), Tensor<float>({1}));
    auto layer = MakeLayer(op, attrs, params);
    EXPECT_FALSE(layer.ok()) << op << " " << attrs;
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(layer.status().message());
  };
  EXPECT_THAT(
      message("sub", "{}", 2),
      HasSubstr("sub \"layer\": sub takes exactly 2 operands, one of them a graph input; got 2 "
                "parameters"));
  EXPECT_THAT(message("pow", R"({"operands": ["input:0", 2, 3]})"),
              HasSubstr("pow takes exactly 2 operands, got 3: [\"input:0\",2,3]"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0"]})"),
              HasSubstr("add takes 2 or more operands, got 1"));
  EXPECT_THAT(message("add", R"({"operands": ["param:0", 1]})", 1),
              HasSubstr("attribute operands must include a graph input (\"input:0\"), got "
                        "[\"param:0\",1]"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0", "input:0"]})"),
              HasSubstr("attribute operands names input 0 twice"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0", "input:2", 1]})"),
              HasSubstr("attribute operands names input 2 but not input 1"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0", "param:1"]})", 1),
              HasSubstr("attribute operands names param 1 but the layer has 1 parameters"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0", 1]})", 1),
              HasSubstr("attribute operands does not use param 0"));
  EXPECT_THAT(message("add", R"({"operands": ["input:0", "x"]})"),
              HasSubstr("attribute operands entry 1 must be \"input:K\", \"param:K\" or a number, "
                        "got \"x\""));
  EXPECT_THAT(message("add", R"({"operands": ["input:-1", 1]})"), HasSubstr("entry 0"));
  EXPECT_THAT(message("add", R"({"operands": ["input:999999999", 1]})"),
              HasSubstr("attribute operands names input 999999999 but has only 2 entries"));
  EXPECT_THAT(message("add", R"({"operands": "input:0"})"),
              HasSubstr("attribute operands must be a list"));
  EXPECT_THAT(message("mul", R"({"axis": 1})"), HasSubstr("unknown attribute axis"));
}

}  // namespace
}  // namespace theano_serving
