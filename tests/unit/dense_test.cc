// dense (dot(x, W) + b) and flatten.
#include "core/ops/dense.h"

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

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_util::MakeLayer;
using testing_util::RunValid;

absl::StatusOr<Shape> FlattenShape(const char* attrs, const Shape& in) {
  auto layer = MakeLayer("flatten", attrs);
  if (!layer.ok()) return layer.status();
  std::vector<Shape> shapes = {in};
  return (*layer)->OutputShape(shapes);
}

TEST(DenseTest, HandComputed) {
  // x (2, 3) = [[1, 2, 3],     W (3, 2) = [[1, 0],    b = [0.5, -1]
  //             [0, -1, 1]]                [0, 1],
  //                                        [2, -1]]
  // x W = [[7, -1], [2, -2]];  + b = [[7.5, -2], [2.5, -3]]   (by hand)
  auto layer = MakeLayer(
      "dense", "{}", {Tensor<float>({3, 2}, {1, 0, 0, 1, 2, -1}), Tensor<float>({2}, {0.5f, -1})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> y = RunValid(**layer, Tensor<float>({2, 3}, {1, 2, 3, 0, -1, 1}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_THAT(y.values(), ElementsAre(7.5f, -2.f, 2.5f, -3.f));
  EXPECT_EQ((*layer)->NumParams(), 8);
  std::vector<Shape> in = {{2, 3}};
  EXPECT_EQ((*layer)->Flops(in), 2 * (2 * 3 + 1) * 2);
}

// Lasagne's DenseLayer(b=None) is T.dot(x, W): dense with W alone (by hand, x and W as in
// HandComputed: x W = [[7, -1], [2, -2]]).
TEST(DenseTest, WithoutBias) {
  auto layer = MakeLayer("dense", "{}", {Tensor<float>({3, 2}, {1, 0, 0, 1, 2, -1})});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> y = RunValid(**layer, Tensor<float>({2, 3}, {1, 2, 3, 0, -1, 1}));
  EXPECT_THAT(y.values(), ElementsAre(7.f, -1.f, 2.f, -2.f));
  EXPECT_EQ((*layer)->NumParams(), 6);
  std::vector<Shape> in = {{2, 3}};
  EXPECT_EQ((*layer)->Flops(in), 2 * (2 * 3) * 2);
  // The fast engine gets zeros as the bias.
  Lowering<float> l = (*layer)->Lower(in);
  EXPECT_EQ(l.kind, LoweredKind::kDense);
  ASSERT_NE(l.bias, nullptr);
  EXPECT_THAT(l.bias->values(), ElementsAre(0.f, 0.f));
}

TEST(DenseTest, Errors) {
  // Theano 1.0.5, shared golden set: dense_error_shape_mismatch (x (2, 4), W
  // (5, 3)).
  auto layer = MakeLayer("dense", "{}", {Tensor<float>({5, 3}), Tensor<float>({3})});
  ASSERT_TRUE(layer.ok());
  std::vector<Shape> in = {{2, 4}};
  auto shape = (*layer)->OutputShape(in);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(shape.status().message(),
              HasSubstr("dense \"layer\": shape mismatch: input (2, 4) has 4 "
                        "columns but W (5, 3) "
                        "has 5 rows"));
  std::vector<Shape> in4d = {{2, 5, 1, 1}};
  EXPECT_THAT((*layer)->OutputShape(in4d).status().message(),
              HasSubstr("input must be 2-D (batch, n_in), got (2, 5, 1, 1)"));

  auto none = MakeLayer("dense", "{}");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(),
              HasSubstr("dense \"layer\": expects 1 or 2 parameters (W, or W and b), got 0"));
  EXPECT_THAT(
      MakeLayer("dense", "{}", {Tensor<float>({5, 3}), Tensor<float>({3}), Tensor<float>({3})})
          .status()
          .message(),
      HasSubstr("got 3"));

  auto w1d = MakeLayer("dense", "{}", {Tensor<float>({5}), Tensor<float>({3})});
  EXPECT_THAT(w1d.status().message(), HasSubstr("W must be 2-D (n_in, n_out), got (5,)"));

  auto bad_b = MakeLayer("dense", "{}", {Tensor<float>({5, 3}), Tensor<float>({4})});
  EXPECT_THAT(bad_b.status().message(),
              HasSubstr("b must have shape (3,) to match W (5, 3), got (4,)"));

  auto attr = MakeLayer("dense", R"({"units": 3})", {Tensor<float>({5, 3}), Tensor<float>({3})});
  EXPECT_THAT(attr.status().message(), HasSubstr("unknown attribute units"));
}

TEST(DenseTest, RandomSweepMatchesNaiveProduct) {
  std::mt19937 rng(21);
  std::normal_distribution<float> dist;
  const int n = 5, n_in = 300, n_out = 7;
  Tensor<float> x({n, n_in}), w({n_in, n_out}), b({n_out});
  for (float& f : x.values()) f = dist(rng);
  for (float& f : w.values()) f = dist(rng) * 0.1f;
  for (float& f : b.values()) f = dist(rng);
  auto layer = MakeLayer("dense", "{}", {w, b});
  ASSERT_TRUE(layer.ok());
  Tensor<float> y = RunValid(**layer, x);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n_out; ++j) {
      double acc = 0;
      for (int k = 0; k < n_in; ++k)
        acc += double{x.data()[i * n_in + k]} * w.data()[k * n_out + j];
      const double want = acc + b.data()[j];
      ASSERT_NEAR(y.data()[i * n_out + j], want, 1e-6 + 1e-6 * std::fabs(want));
    }
  }
}

TEST(DenseTest, Float64) {
  auto layer = MakeLayer<double>("dense", "{}",
                                 {Tensor<double>({2, 1}, {0.1, 0.2}), Tensor<double>({1}, {0.3})});
  ASSERT_TRUE(layer.ok());
  Tensor<double> y = RunValid(**layer, Tensor<double>({1, 2}, {1.0, 1.0}));
  EXPECT_NEAR(y.data()[0], 0.6, 1e-15);
}

TEST(FlattenTest, ShapesFollowTheano) {
  // T.flatten keeps the first ndim - 1 axes and multiplies the rest (by hand).
  EXPECT_EQ(*FlattenShape(R"({"ndim": 2})", {2, 3, 4, 5}), (Shape{2, 60}));
  EXPECT_EQ(*FlattenShape(R"({"ndim": 3, "order": "C"})", {2, 3, 4, 5}), (Shape{2, 3, 20}));
  EXPECT_EQ(*FlattenShape("{}", {2, 3, 4, 5}), (Shape{120}));  // Theano's default ndim = 1
  EXPECT_EQ(*FlattenShape(R"({"ndim": 4})", {2, 3, 4, 5}), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(*FlattenShape(R"({"ndim": 2})", {0, 3, 4}), (Shape{0, 12}));
  EXPECT_EQ(*FlattenShape("{}", {}), (Shape{1}));  // a scalar flattens to (1,)
}

TEST(FlattenTest, DataIsUnchanged) {
  auto layer = MakeLayer("flatten", R"({"ndim": 2})");
  ASSERT_TRUE(layer.ok());
  Tensor<float> x({2, 1, 2}, {1.f, -2.f, 3.5f, -0.f});
  Tensor<float> y = RunValid(**layer, x);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.values(), x.values());
}

TEST(FlattenTest, Errors) {
  auto too_deep = FlattenShape(R"({"ndim": 5})", {2, 3, 4, 5});
  EXPECT_EQ(too_deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_deep.status().message(),
              HasSubstr("flatten \"layer\": ndim 5 is larger than the rank 4 of "
                        "input (2, 3, 4, 5)"));
  EXPECT_THAT(FlattenShape(R"({"ndim": 0})", {2}).status().message(),
              HasSubstr("attribute ndim must be at least 1, got 0"));
  EXPECT_THAT(FlattenShape(R"({"order": "F"})", {2}).status().message(),
              HasSubstr("attribute order must be \"C\" (the only order "
                        "supported), got \"F\""));
  EXPECT_THAT(FlattenShape(R"({"outdim": 2})", {2}).status().message(),
              HasSubstr("unknown attribute outdim"));
  EXPECT_THAT(MakeLayer("flatten", "{}", {Tensor<float>({1})}).status().message(),
              HasSubstr("expects 0 parameters"));
}

}  // namespace
}  // namespace theano_serving
