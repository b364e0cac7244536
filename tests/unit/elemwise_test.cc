// Element-wise activations (Theano's C-path cut-offs and float32 formulas) and
// bias_add.
#include "core/ops/elemwise.h"

#include <cmath>
#include <cstdint>
#include <cstring>
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

using ::testing::HasSubstr;
using testing_util::MakeSpec;
using testing_util::RunValid;

template <typename T>
absl::StatusOr<LayerPtr<T>> Make(const std::string& op, const char* attrs_json = "{}",
                                 std::vector<Tensor<T>> params = {}) {
  LayerSpec spec = MakeSpec(op, attrs_json, "act");
  if (op == "bias_add") return MakeBiasAdd<T>(std::move(spec), std::move(params));
  return MakeElemwise<T>(std::move(spec), std::move(params));
}

// Applies the float32 op to each of `xs`.
std::vector<float> Eval(const std::string& op, const char* attrs, std::vector<float> xs) {
  auto layer = Make<float>(op, attrs);
  EXPECT_TRUE(layer.ok()) << layer.status();
  if (!layer.ok()) return {};
  Shape shape = {static_cast<int64_t>(xs.size())};
  return RunValid(**layer, Tensor<float>(shape, std::move(xs))).values();
}

float Eval1(const std::string& op, float x, const char* attrs = "{}") {
  return Eval(op, attrs, {x})[0];
}

double Eval1d(const std::string& op, double x, const char* attrs = "{}") {
  auto layer = Make<double>(op, attrs);
  EXPECT_TRUE(layer.ok()) << layer.status();
  if (!layer.ok()) return 0;
  return RunValid(**layer, Tensor<double>({1}, {x})).values()[0];
}

TEST(ElemwiseTest, OpsListsEveryActivation) {
  EXPECT_THAT(ElemwiseOps(),
              ::testing::UnorderedElementsAre(
                  "tanh", "sigmoid", "ultra_fast_sigmoid", "hard_sigmoid", "softplus", "softsign",
                  "relu", "elu", "selu", "exp", "abs", "neg", "sqr", "sqrt", "log", "inv", "clip"));
}

TEST(ElemwiseTest, OutputShapeEqualsInputShape) {
  auto layer = Make<float>("tanh");
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 3, 4, 5}};
  auto out = (*layer)->OutputShape(in);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (Shape{2, 3, 4, 5}));
}

// relu(x) with alpha = 0 is Theano's 0.5 * (x + |x|): exact, and -0 becomes +0.
TEST(ElemwiseTest, ReluAlphaZeroIsExact) {
  // x:  -2  -0.0  0  1.5  3.4   (by hand)
  // y:   0   0    0  1.5  3.4
  std::vector<float> y = Eval("relu", "{}", {-2.f, -0.f, 0.f, 1.5f, 3.4f});
  EXPECT_THAT(y, ::testing::ElementsAre(0.f, 0.f, 0.f, 1.5f, 3.4f));
  EXPECT_FALSE(std::signbit(y[1]));
}

// relu(x, 0.1) = 0.55 * x + 0.45 * |x| in float32 with one FMA (Theano 1.0.5,
// shared golden set).
TEST(ElemwiseTest, ReluLeakyUsesTheanoFormula) {
  EXPECT_EQ(Eval1("relu", -100.f, R"({"alpha": 0.1})"), -10.000001f);
  EXPECT_EQ(Eval1("relu", -15.5f, R"({"alpha": 0.1})"), -1.5500008f);
  EXPECT_EQ(Eval1("relu", -0.001f, R"({"alpha": 0.1})"), -0.00010000005f);
  EXPECT_EQ(Eval1("relu", 3.4f, R"({"alpha": 0.1})"), 3.4f);
}

// Cut-offs of ScalarSigmoid's float32 C code: 0 below -88, 1 above 15
// (Theano 1.0.5, shared golden set). The python path would use +-30 instead.
TEST(ElemwiseTest, SigmoidCutoffsFloat32) {
  EXPECT_EQ(Eval1("sigmoid", -88.5f), 0.f);
  EXPECT_EQ(Eval1("sigmoid", -88.f), 6.054601e-39f);  // subnormal, not flushed
  EXPECT_EQ(Eval1("sigmoid", -30.f), 9.3576236e-14f);
  EXPECT_EQ(Eval1("sigmoid", 0.f), 0.5f);
  EXPECT_EQ(Eval1("sigmoid", 15.f), 0.99999964f);
  EXPECT_EQ(Eval1("sigmoid", 15.5f), 1.f);
}

// float64 C code cuts at -709 and 19 (theano/tensor/nnet/sigm.py).
TEST(ElemwiseTest, SigmoidCutoffsFloat64) {
  EXPECT_EQ(Eval1d("sigmoid", -709.5), 0.0);
  EXPECT_GT(Eval1d("sigmoid", -709.0), 0.0);
  EXPECT_EQ(Eval1d("sigmoid", 19.5), 1.0);
  EXPECT_LT(Eval1d("sigmoid", 19.0), 1.0);  // 1 - 5.6e-9
}

// ScalarSoftplus float32: 0 below -103, x above 14, else log1p(exp(x)) in float
// (Theano 1.0.5, shared golden set).
TEST(ElemwiseTest, SoftplusCutoffsFloat32) {
  EXPECT_EQ(Eval1("softplus", 14.f), 14.000001f);
  EXPECT_EQ(Eval1("softplus", 14.5f), 14.5f);
  EXPECT_EQ(Eval1("softplus", -100.f), 3.8e-44f);
  EXPECT_EQ(Eval1("softplus", -104.f), 0.f);  // by hand: below the -103 cut-off
  EXPECT_EQ(Eval1("softplus", 0.f), 0.6931472f);
}

TEST(ElemwiseTest, SoftplusCutoffsFloat64) {
  EXPECT_EQ(Eval1d("softplus", 16.5), 16.5);   // above 16: x itself
  EXPECT_EQ(Eval1d("softplus", -745.5), 0.0);  // below -745: 0
  EXPECT_NEAR(Eval1d("softplus", 16.0), 16.0 + 1.1253517e-7,
              1e-13);  // log1p(exp(16)), by hand
}

// UltraFastScalarSigmoid's piecewise tanh (Theano 1.0.5, shared golden set;
// 0.25 and 0.5 by hand: x = -1 -> 0.5x = -0.5 -> -(1.5 * 0.5 / 1.5) = -0.5 ->
// 0.5 * (1 - 0.5)).
TEST(ElemwiseTest, UltraFastSigmoidPieces) {
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", -100.f), 0.0024726093f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", -6.f), 0.0024726093f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", -5.f), 0.013942957f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", -1.f), 0.25f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", 0.f), 0.5f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", 3.4f), 0.96770453f);
  EXPECT_EQ(Eval1("ultra_fast_sigmoid", 100.f), 0.99752736f);
}

// clip(0.2 * x + 0.5, 0, 1) with an FMA (Theano 1.0.5, shared golden set).
TEST(ElemwiseTest, HardSigmoid) {
  EXPECT_EQ(Eval1("hard_sigmoid", -2.5f), 0.f);
  EXPECT_EQ(Eval1("hard_sigmoid", -2.f), 0.099999994f);
  EXPECT_EQ(Eval1("hard_sigmoid", 0.f), 0.5f);
  EXPECT_EQ(Eval1("hard_sigmoid", 1.f), 0.7f);
  EXPECT_EQ(Eval1("hard_sigmoid", 2.5f), 1.f);
  EXPECT_EQ(Eval1("hard_sigmoid", 2.28933883f),
            0.9578678f);  // only right with the FMA
  EXPECT_TRUE(std::isnan(Eval1("hard_sigmoid", std::nanf(""))));
}

TEST(ElemwiseTest, EluAndSelu) {
  // Theano 1.0.5, shared golden set.
  EXPECT_EQ(Eval1("elu", -1.f), -0.63212055f);
  EXPECT_EQ(Eval1("elu", -1.f, R"({"alpha": 0.5})"), -0.31606027f);
  EXPECT_EQ(Eval1("elu", -100.f), -1.f);
  EXPECT_EQ(Eval1("elu", 2.5f), 2.5f);
  EXPECT_TRUE(std::signbit(Eval1("elu", -0.f)));  // expm1(-0) = -0
  // By hand: scale = 1.0507009873554805, alpha = 1.6732632423543772,
  // selu(1) = scale; selu(-1) = scale * alpha * (e^-1 - 1) = -1.1113307378.
  EXPECT_EQ(Eval1("selu", 1.f), 1.0507010f);
  EXPECT_NEAR(Eval1("selu", -1.f), -1.1113307378, 2e-7);
  EXPECT_EQ(Eval1("selu", 0.f), 0.f);
  EXPECT_NEAR(Eval1d("selu", -1.0), -1.1113307378125628, 1e-15);
}

TEST(ElemwiseTest, SoftsignTanhExpAbs) {
  // By hand: x / (1 + |x|).
  EXPECT_EQ(Eval1("softsign", 3.f), 0.75f);
  EXPECT_EQ(Eval1("softsign", -1.f), -0.5f);
  EXPECT_EQ(Eval1("softsign", 0.f), 0.f);
  // Theano 1.0.5, shared golden set.
  EXPECT_EQ(Eval1("tanh", 0.5f), 0.46211717f);
  EXPECT_EQ(Eval1("tanh", -10.f), -1.f);
  EXPECT_EQ(Eval1("exp", 88.5f), 2.723088e+38f);
  EXPECT_EQ(Eval1("exp", 89.f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Eval1("exp", -104.f), 0.f);
  EXPECT_EQ(Eval1("exp", -100.f), 3.8e-44f);
  EXPECT_EQ(Eval1("abs", -88.5f), 88.5f);
  EXPECT_FALSE(std::signbit(Eval1("abs", -0.f)));
}

// The unary scalar ops of theano/scalar/basic.py, their C code in T (by hand).
TEST(ElemwiseTest, NegSqrSqrtLogInv) {
  //        x:  2     -0.5   -0     4
  //  neg:     -2      0.5    0    -4
  //  sqr:      4      0.25   0    16
  std::vector<float> neg = Eval("neg", "{}", {2.f, -0.5f, -0.f, 4.f});
  EXPECT_THAT(neg, ::testing::ElementsAre(-2.f, 0.5f, 0.f, -4.f));
  EXPECT_FALSE(std::signbit(neg[2]));
  EXPECT_THAT(Eval("sqr", "{}", {2.f, -0.5f, -0.f, 4.f}),
              ::testing::ElementsAre(4.f, 0.25f, 0.f, 16.f));
  // sqrt(-1) = NaN, sqrt(-0) = -0 (sqrtf).
  std::vector<float> root = Eval("sqrt", "{}", {4.f, 2.f, -1.f, -0.f});
  EXPECT_EQ(root[0], 2.f);
  EXPECT_EQ(root[1], 1.4142135f);
  EXPECT_TRUE(std::isnan(root[2]));
  EXPECT_TRUE(std::signbit(root[3]));
  // log(0) = -inf, log(-1) = NaN, log(e) = 1 (logf of float(e)).
  std::vector<float> lg = Eval("log", "{}", {1.f, 0.f, -1.f, 2.7182817f});
  EXPECT_EQ(lg[0], 0.f);
  EXPECT_EQ(lg[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(lg[2]));
  EXPECT_EQ(lg[3], 0.99999994f);
  // inv: 1.0 / x; 1 / -0 = -inf.
  EXPECT_THAT(Eval("inv", "{}", {4.f, -0.f, 3.f}),
              ::testing::ElementsAre(0.25f, -std::numeric_limits<float>::infinity(), 0.33333334f));
  EXPECT_EQ(Eval1d("inv", 3.0), 1.0 / 3.0);
  EXPECT_EQ(Eval1d("sqrt", 2.0), std::sqrt(2.0));
  EXPECT_EQ(Eval1d("log", 10.0), std::log(10.0));
}

// T.clip(x, min, max) = x < min ? min : x > max ? max : x (by hand): NaN passes through, and with
// min > max no x survives: x < min gives min, anything else max.
TEST(ElemwiseTest, Clip) {
  //   x:   -2    0.5    7    NaN
  //   y:   -1    0.5    3    NaN      (min -1, max 3)
  std::vector<float> y = Eval("clip", R"({"min": -1, "max": 3})", {-2.f, 0.5f, 7.f, std::nanf("")});
  EXPECT_EQ(y[0], -1.f);
  EXPECT_EQ(y[1], 0.5f);
  EXPECT_EQ(y[2], 3.f);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_THAT(Eval("clip", R"({"min": 2, "max": 1})", {0.f, 1.5f, 5.f}),
              ::testing::ElementsAre(2.f, 2.f, 1.f));
  // The bounds are constants of x's dtype: 0.1 is float32(0.1) in float32.
  EXPECT_EQ(Eval1("clip", 0.f, R"({"min": 0.1, "max": 1})"), 0.1f);
  EXPECT_EQ(Eval1d("clip", 0.0, R"({"min": 0.1, "max": 1})"), 0.1);
  auto missing = Make<float>("clip", R"({"min": 0})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("clip \"act\": attribute max is required"));
  EXPECT_THAT(Make<float>("clip", R"({"min": 0, "max": "1"})").status().message(),
              HasSubstr("attribute max must be a number, got \"1\""));
  EXPECT_THAT(Make<float>("neg", R"({"min": 0})").status().message(),
              HasSubstr("unknown attribute min"));
}

TEST(ElemwiseTest, ErrorsNameLayerAttributeAndValue) {
  auto bad_alpha = Make<float>("relu", R"({"alpha": "x"})");
  EXPECT_EQ(bad_alpha.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_alpha.status().message(),
              HasSubstr("relu \"act\": attribute alpha must be a number, got \"x\""));

  auto stray_attr = Make<float>("tanh", R"({"alpha": 0.1})");
  EXPECT_EQ(stray_attr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(stray_attr.status().message(), HasSubstr("unknown attribute alpha"));

  auto with_param = Make<float>("sigmoid", "{}", {Tensor<float>({1})});
  EXPECT_EQ(with_param.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(with_param.status().message(), HasSubstr("sigmoid \"act\": expects 0 parameters"));

  auto not_elemwise = Make<float>("softmax");
  EXPECT_EQ(not_elemwise.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_elemwise.status().message(), HasSubstr("\"softmax\" is not an element-wise op"));
}

// Naive formulas in double; the float32 op must agree to float precision
// everywhere away from the cut-offs (where the tolerance absorbs the <= 3e-7
// jump).
TEST(ElemwiseTest, RandomSweepMatchesNaiveFormulas) {
  struct Case {
    const char* op;
    const char* attrs;
    double (*f)(double);
  };
  const Case cases[] = {
      {"tanh", "{}", [](double x) { return std::tanh(x); }},
      {"sigmoid", "{}", [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"softplus", "{}", [](double x) { return std::log(1 + std::exp(x)); }},
      {"softsign", "{}", [](double x) { return x / (1 + std::fabs(x)); }},
      {"relu", "{}", [](double x) { return x > 0 ? x : 0.0; }},
      {"relu", R"({"alpha": 0.3})", [](double x) { return x > 0 ? x : 0.3 * x; }},
      {"elu", R"({"alpha": 0.7})", [](double x) { return x > 0 ? x : 0.7 * (std::exp(x) - 1); }},
      {"selu", "{}",
       [](double x) {
         return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (std::exp(x) - 1));
       }},
      {"exp", "{}", [](double x) { return std::exp(x); }},
      {"abs", "{}", [](double x) { return std::fabs(x); }},
      {"hard_sigmoid", "{}", [](double x) { return std::min(1.0, std::max(0.0, 0.2 * x + 0.5)); }},
      {"neg", "{}", [](double x) { return -x; }},
      {"sqr", "{}", [](double x) { return x * x; }},
      {"inv", "{}", [](double x) { return 1 / x; }},
      {"clip", R"({"min": -3, "max": 5})",
       [](double x) { return std::min(5.0, std::max(-3.0, x)); }},
  };
  std::mt19937 rng(20240601);
  std::uniform_real_distribution<float> dist(-20.f, 20.f);
  std::vector<float> xs(2000);
  for (float& x : xs) x = dist(rng);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " " + c.attrs);
    std::vector<float> y = Eval(c.op, c.attrs, xs);
    ASSERT_EQ(y.size(), xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = c.f(xs[i]);
      ASSERT_NEAR(y[i], want, 1e-6 + 3e-7 * std::fabs(want)) << "x = " << xs[i];
    }
  }
  // ultra_fast_sigmoid: the piecewise tanh of UltraFastScalarSigmoid written
  // out in double; the op keeps float32 intermediates, so it agrees to float
  // precision.
  auto fast_tanh = [](double u) {
    const double a = std::fabs(u);
    const double t = a < 1.7 ? 1.5 * a / (1 + a)
                     : a < 3 ? 0.935409070603099 + 0.0458812946797165 * (a - 1.7)
                             : 0.99505475368673;
    return u >= 0 ? t : -t;
  };
  std::vector<float> u = Eval("ultra_fast_sigmoid", "{}", xs);
  for (size_t i = 0; i < xs.size(); ++i) {
    ASSERT_NEAR(u[i], 0.5 * (fast_tanh(0.5 * xs[i]) + 1), 1e-6) << "x = " << xs[i];
  }
}

TEST(ElemwiseTest, RandomSweepFloat64) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> dist(-30.0, 30.0);
  for (int i = 0; i < 500; ++i) {
    const double x = dist(rng);
    EXPECT_NEAR(Eval1d("tanh", x), std::tanh(x), 1e-15);
    EXPECT_NEAR(Eval1d("relu", x, R"({"alpha": 0.2})"), x > 0 ? x : 0.2 * x, 1e-14);
    if (x > -19 && x < 19) {
      EXPECT_NEAR(Eval1d("sigmoid", x), 1 / (1 + std::exp(-x)), 1e-15);
    }
  }
}

TEST(BiasAddTest, AddsPerChannel) {
  // x (1, 2, 1, 2) = [[[[1, 2]], [[3, 4]]]], b = [10, -1]  ->  [[[[11, 12]],
  // [[2, 3]]]]  (by hand)
  auto layer = Make<float>("bias_add", R"({"axis": 1})", {Tensor<float>({2}, {10.f, -1.f})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> y = RunValid(**layer, Tensor<float>({1, 2, 1, 2}, {1.f, 2.f, 3.f, 4.f}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 1, 2}));
  EXPECT_THAT(y.values(), ::testing::ElementsAre(11.f, 12.f, 2.f, 3.f));
  EXPECT_EQ((*layer)->NumParams(), 2);
}

TEST(BiasAddTest, DefaultAxisOneOn2dAndNegativeAxis) {
  // x (2, 3) = [[0, 1, 2], [3, 4, 5]], b = [1, 2, 3]  ->  [[1, 3, 5], [4, 6,
  // 8]]  (by hand)
  auto layer = Make<float>("bias_add", "{}", {Tensor<float>({3}, {1.f, 2.f, 3.f})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> x({2, 3}, {0.f, 1.f, 2.f, 3.f, 4.f, 5.f});
  EXPECT_THAT(RunValid(**layer, x).values(), ::testing::ElementsAre(1.f, 3.f, 5.f, 4.f, 6.f, 8.f));
  // axis -1 on (3, 2): b = [100, 200] added along the last axis.
  auto last = Make<float>("bias_add", R"({"axis": -1})", {Tensor<float>({2}, {100.f, 200.f})});
  ASSERT_TRUE(last.ok());
  Tensor<float> x2({3, 2}, {0.f, 1.f, 2.f, 3.f, 4.f, 5.f});
  EXPECT_THAT(RunValid(**last, x2).values(),
              ::testing::ElementsAre(100.f, 201.f, 102.f, 203.f, 104.f, 205.f));
}

TEST(BiasAddTest, Errors) {
  auto no_param = Make<float>("bias_add");
  EXPECT_EQ(no_param.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_param.status().message(), HasSubstr("expects 1 parameter (b), got 0"));

  auto b2d = Make<float>("bias_add", "{}", {Tensor<float>({1, 3})});
  EXPECT_EQ(b2d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b2d.status().message(), HasSubstr("b must be 1-D, got shape (1, 3)"));

  auto layer = Make<float>("bias_add", "{}", {Tensor<float>({3})});
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 4, 5, 5}};
  auto shape = (*layer)->OutputShape(in);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(), HasSubstr("(2, 4, 5, 5)"));
  EXPECT_THAT(shape.status().message(), HasSubstr("b (3,) has 3"));

  auto far_axis = Make<float>("bias_add", R"({"axis": 4})", {Tensor<float>({3})});
  ASSERT_TRUE(far_axis.ok());
  std::vector<Shape> in4 = {{2, 3, 5, 5}};
  EXPECT_THAT((*far_axis)->OutputShape(in4).status().message(),
              HasSubstr("axis 4 is out of range for input (2, 3, 5, 5)"));
}

TEST(BiasAddTest, RandomSweepMatchesNaiveLoop) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  Tensor<float> x({3, 5, 4, 2});
  for (float& v : x.values()) v = dist(rng);
  Tensor<float> b({5});
  for (float& v : b.values()) v = dist(rng);
  auto layer = Make<float>("bias_add", "{}", {b});
  ASSERT_TRUE(layer.ok());
  Tensor<float> y = RunValid(**layer, x);
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t c = 0; c < 5; ++c) {
      for (int64_t i = 0; i < 8; ++i) {
        const int64_t k = (n * 5 + c) * 8 + i;
        ASSERT_EQ(y.data()[k], x.data()[k] + b.data()[c]);
      }
    }
  }
}

}  // namespace
}  // namespace theano_serving
