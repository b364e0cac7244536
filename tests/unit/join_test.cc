// concatenate (the residual `add` is tested with the other arithmetic ops in arith_test.cc).
#include "core/ops/join.h"

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
using testing_util::RunLayer;

TEST(ConcatenateTest, DefaultAxisOneJoinsChannels) {
  // a (1, 1, 2) = [[[1, 2]]], b (1, 2, 2) = [[[3, 4], [5, 6]]]
  // concatenate axis 1 -> (1, 3, 2) = [[[1, 2], [3, 4], [5, 6]]]   (by hand)
  auto layer = MakeLayer("concatenate");
  ASSERT_TRUE(layer.ok());
  auto y =
      RunLayer(**layer, {Tensor<float>({1, 1, 2}, {1, 2}), Tensor<float>({1, 2, 2}, {3, 4, 5, 6})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{1, 3, 2}));
  EXPECT_THAT(y->values(), ElementsAre(1.f, 2.f, 3.f, 4.f, 5.f, 6.f));
}

TEST(ConcatenateTest, LastAndFirstAxis) {
  // a (2, 1) = [[1], [2]], b (2, 2) = [[3, 4], [5, 6]]; axis -1 -> [[1, 3, 4],
  // [2, 5, 6]]
  auto last = MakeLayer("concatenate", R"({"axis": -1})");
  ASSERT_TRUE(last.ok());
  auto y = RunLayer(**last, {Tensor<float>({2, 1}, {1, 2}), Tensor<float>({2, 2}, {3, 4, 5, 6})});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  EXPECT_THAT(y->values(), ElementsAre(1.f, 3.f, 4.f, 2.f, 5.f, 6.f));
  // axis 0 of (1, 2) and (2, 2): rows stacked.
  auto first = MakeLayer("concatenate", R"({"axis": 0})");
  ASSERT_TRUE(first.ok());
  auto z = RunLayer(**first, {Tensor<float>({1, 2}, {1, 2}), Tensor<float>({2, 2}, {3, 4, 5, 6})});
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->shape(), (Shape{3, 2}));
  EXPECT_THAT(z->values(), ElementsAre(1.f, 2.f, 3.f, 4.f, 5.f, 6.f));
}

TEST(ConcatenateTest, Errors) {
  auto layer = MakeLayer("concatenate");
  ASSERT_TRUE(layer.ok());
  auto mismatch = RunLayer(**layer, {Tensor<float>({2, 3, 4, 4}), Tensor<float>({2, 5, 4, 3})});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(),
              HasSubstr("concatenate \"layer\": input 1 has shape (2, 5, 4, 3) but "
                        "input 0 has (2, 3, "
                        "4, 4); they must agree on every axis except axis 1"));
  auto rank = RunLayer(**layer, {Tensor<float>({2, 3}), Tensor<float>({2, 3, 1})});
  EXPECT_EQ(rank.status().code(), absl::StatusCode::kInvalidArgument);
  auto far = MakeLayer("concatenate", R"({"axis": 3})");
  ASSERT_TRUE(far.ok());
  EXPECT_THAT(RunLayer(**far, {Tensor<float>({2, 3}), Tensor<float>({2, 3})}).status().message(),
              HasSubstr("axis 3 is out of range for input 0 (2, 3) of rank 2"));
  EXPECT_THAT(MakeLayer("concatenate", R"({"axis": "x"})").status().message(),
              HasSubstr("attribute axis must be an integer"));
}

TEST(ConcatenateTest, RandomSweepMatchesIndexFormula) {
  std::mt19937 rng(8);
  std::normal_distribution<float> dist;
  const int64_t widths[] = {3, 1, 4};
  std::vector<Tensor<float>> xs;
  for (int64_t w : widths) {
    Tensor<float> x({2, w, 3, 2});
    for (float& f : x.values()) f = dist(rng);
    xs.push_back(std::move(x));
  }
  auto layer = MakeLayer("concatenate");
  ASSERT_TRUE(layer.ok());
  auto y = RunLayer(**layer, xs);
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->shape(), (Shape{2, 8, 3, 2}));
  for (int64_t n = 0; n < 2; ++n) {
    int64_t c0 = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      for (int64_t c = 0; c < widths[k]; ++c) {
        for (int64_t s = 0; s < 6; ++s) {
          ASSERT_EQ(y->data()[(n * 8 + c0 + c) * 6 + s], xs[k].data()[(n * widths[k] + c) * 6 + s]);
        }
      }
      c0 += widths[k];
    }
  }
}

}  // namespace
}  // namespace theano_serving
