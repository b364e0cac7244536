// Tests of pool_2d (core/ops/pool.h) and PoolOutputSize (core/shape.h).
// Expected numbers are computed by hand (drawn beside each case), taken from
// Theano 1.0.5 (shared golden set, tests/golden/pool_2d.json, case named), or
// produced by the naive reference below.
#include "core/ops/pool.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/layer.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/layer_testing.h"

namespace theano_serving {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;
using testing_util::RunValid;

template <typename T>
absl::StatusOr<LayerPtr<T>> MakePool(json attrs) {
  LayerSpec spec;
  spec.op = "pool_2d";
  spec.attrs = std::move(attrs);
  return MakePool2d<T>(std::move(spec), {});
}

absl::Status MakeAndCheck(json attrs, Shape input_shape) {
  absl::StatusOr<LayerPtr<float>> layer = MakePool<float>(std::move(attrs));
  if (!layer.ok()) return layer.status();
  return (*layer)->OutputShape({input_shape}).status();
}

// ------------------------------------------------------------------------------------------------
// core/shape.h

TEST(ShapePoolTest, IgnoreBorderTrue) {
  // max(0, (n + 2p - ws) // st + 1).
  EXPECT_EQ(PoolOutputSize(5, 2, 2, 0, true), 2);
  EXPECT_EQ(PoolOutputSize(7, 3, 2, 0, true), 3);
  // pool_2d_pad1x1_ws3x3_st2x2_max: 6x7 with pad 1 -> 3x4.
  EXPECT_EQ(PoolOutputSize(6, 3, 2, 1, true), 3);
  EXPECT_EQ(PoolOutputSize(7, 3, 2, 1, true), 4);
  // pool_2d_ws_gt_image_ib_empty: 2 rows with ws 3 -> 0 (an empty axis, not an
  // error).
  EXPECT_EQ(PoolOutputSize(2, 3, 3, 0, true), 0);
  EXPECT_EQ(PoolOutputSize(2, 5, 1, 0, true), 0);
}

TEST(ShapePoolTest, IgnoreBorderFalseKeepsPartialWindows) {
  // stride >= ws: (n - 1) // st + 1.  pool_2d_partial_5x7_ws2x2_noib_max: 5x7
  // -> 3x4.
  EXPECT_EQ(PoolOutputSize(5, 2, 2, 0, false), 3);
  EXPECT_EQ(PoolOutputSize(7, 2, 2, 0, false), 4);
  EXPECT_EQ(PoolOutputSize(5, 1, 2, 0, false), 3);
  // stride < ws: max(0, (n - 1 - ws + st) // st) + 1.
  // pool_2d_partial_5x7_ws3x3_st2x2: 2x3.
  EXPECT_EQ(PoolOutputSize(5, 3, 2, 0, false), 2);
  EXPECT_EQ(PoolOutputSize(7, 3, 2, 0, false), 3);
  // pool_2d_ws_gt_image_noib_max: ws 3x4 on 2x3 -> one partial window.
  EXPECT_EQ(PoolOutputSize(2, 3, 3, 0, false), 1);
  EXPECT_EQ(PoolOutputSize(3, 4, 4, 0, false), 1);
  EXPECT_EQ(PoolOutputSize(2, 3, 1, 0, false), 1);
}

// ------------------------------------------------------------------------------------------------
// Hand-computed cases. Input used below (1x1x3x5):
//    1  2  3  4  5
//    6  7  8  9 10
//   11 12 13 14 15
const std::vector<float> kImage3x5 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

TEST(Pool2dTest, MaxIgnoreBorderDropsPartialWindows) {
  // ws 2x2, ignore_border=true: one row of two full windows:  7 9
  auto layer = MakePool<float>({{"ws", {2, 2}}, {"ignore_border", true}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 5}, kImage3x5));
  EXPECT_THAT(out.shape(), ElementsAre(1, 1, 1, 2));
  EXPECT_THAT(out.values(), ElementsAre(7, 9));
}

TEST(Pool2dTest, MaxWithoutIgnoreBorderKeepsPartialWindows) {
  // ws 2x2, ignore_border=false (also Theano's default): partial windows at the
  // right and bottom.
  //    1  2 |  3  4 |  5
  //    6  7 |  8  9 | 10        7  9 10
  //   ------+-------+---   ->  12 14 15
  //   11 12 | 13 14 | 15
  for (json attrs : {json{{"ws", {2, 2}}, {"ignore_border", false}}, json{{"ws", {2, 2}}}}) {
    auto layer = MakePool<float>(attrs);
    ASSERT_TRUE(layer.ok()) << layer.status();
    Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 5}, kImage3x5));
    EXPECT_THAT(out.shape(), ElementsAre(1, 1, 2, 3));
    EXPECT_THAT(out.values(), ElementsAre(7, 9, 10, 12, 14, 15));
  }
}

TEST(Pool2dTest, SumAndAveragesOnPartialWindows) {
  // Window sums of the 2x2 grid above:  16 24 15 / 23 27 15.
  // ignore_border=false: both averages divide by the clipped window's size (4,
  // 4, 2 / 2, 2, 1), so average_inc_pad == average_exc_pad (Theano's C code;
  // golden pool_2d_partial_* cases).
  auto sum = MakePool<float>({{"ws", {2, 2}}, {"mode", "sum"}});
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(RunValid(**sum, Tensor<float>({1, 1, 3, 5}, kImage3x5)).values(),
              ElementsAre(16, 24, 15, 23, 27, 15));
  for (const char* mode : {"average_inc_pad", "average_exc_pad"}) {
    auto avg = MakePool<float>({{"ws", {2, 2}}, {"mode", mode}});
    ASSERT_TRUE(avg.ok()) << avg.status();
    EXPECT_THAT(RunValid(**avg, Tensor<float>({1, 1, 3, 5}, kImage3x5)).values(),
                ElementsAre(4, 6, 7.5, 11.5, 13.5, 15))
        << mode;
  }
}

TEST(Pool2dTest, PaddingDivisors) {
  // ws 2x2, pad [1, 1], ignore_border=true on the 2x2 image 1 2 / 3 4. Each
  // window holds one real element (padding is never a candidate for max/sum):
  //   . .  . .         max / sum:        1 2 / 3 4
  //   . 1  2 .         average_exc_pad:  1 2 / 3 4   (divides by 1 real
  //   element) . 3  4 .         average_inc_pad:  0.25 0.5 / 0.75 1  (divides
  //   by ws0*ws1 = 4) . .  . .
  const Tensor<float> image({1, 1, 2, 2}, {1, 2, 3, 4});
  struct Case {
    const char* mode;
    std::vector<float> expected;
  };
  for (const Case& c : std::vector<Case>{{"max", {1, 2, 3, 4}},
                                         {"sum", {1, 2, 3, 4}},
                                         {"average_exc_pad", {1, 2, 3, 4}},
                                         {"average_inc_pad", {0.25, 0.5, 0.75, 1}}}) {
    auto layer = MakePool<float>(
        {{"ws", {2, 2}}, {"pad", {1, 1}}, {"ignore_border", true}, {"mode", c.mode}});
    ASSERT_TRUE(layer.ok()) << layer.status();
    Tensor<float> out = RunValid(**layer, image);
    EXPECT_THAT(out.shape(), ElementsAre(1, 1, 2, 2));
    EXPECT_EQ(out.values(), c.expected) << c.mode;
  }
}

TEST(Pool2dTest, MaxIsExactAndIgnoresPaddingForNegatives) {
  // All-negative input with padding: zeros of the padding must not win.
  auto layer = MakePool<double>({{"ws", {3, 3}}, {"pad", {1, 1}}, {"ignore_border", true}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<double> out = RunValid(**layer, Tensor<double>({1, 1, 2, 2}, {-1.5, -2.25, -3.125, -0.1}));
  EXPECT_THAT(out.values(), ElementsAre(-0.1));
}

TEST(Pool2dTest, RanksAndEmptyOutput) {
  // pool_2d_2d_input_ib / pool_2d_3d_input_noib / pool_2d_ws_gt_image_ib_empty
  // (Theano 1.0.5).
  auto ib = MakePool<float>({{"ws", {3, 2}}, {"ignore_border", true}});
  ASSERT_TRUE(ib.ok()) << ib.status();
  EXPECT_THAT(*(*ib)->OutputShape({Shape{7, 6}}), ElementsAre(2, 3));
  EXPECT_THAT(*(*ib)->OutputShape({Shape{1, 2, 2, 3}}), ElementsAre(1, 2, 0, 1));
  EXPECT_EQ(RunValid(**ib, Tensor<float>({1, 2, 2, 3})).size(), 0);
  auto noib = MakePool<float>({{"ws", {2, 2}}, {"ignore_border", false}});
  ASSERT_TRUE(noib.ok()) << noib.status();
  EXPECT_THAT(*(*noib)->OutputShape({Shape{3, 5, 7}}), ElementsAre(3, 3, 4));
  EXPECT_THAT(*(*noib)->OutputShape({Shape{2, 3, 5, 7, 9}}), ElementsAre(2, 3, 5, 4, 5));
  absl::Status s = (*noib)->OutputShape({Shape{7}}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pool_2d: input must have at least 2 dimensions"));
}

TEST(Pool2dTest, FlopsAndParams) {
  auto layer = MakePool<float>({{"ws", {2, 2}}, {"ignore_border", true}});
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->NumParams(), 0);
  EXPECT_EQ((*layer)->Flops({Shape{2, 3, 8, 8}}), 2 * 3 * 4 * 4 * 4);
}

// ------------------------------------------------------------------------------------------------
// Errors (golden cases pool_2d_error_*).

TEST(Pool2dErrorTest, PadNeedsIgnoreBorder) {
  absl::Status s =
      MakeAndCheck({{"ws", {2, 2}}, {"pad", {1, 1}}, {"ignore_border", false}}, {1, 1, 6, 6});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pool_2d: pad [1, 1] requires ignore_border=true"));
  // The default ignore_border is false too.
  s = MakeAndCheck({{"ws", {2, 2}}, {"pad", {1, 0}}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("pad [1, 0] requires ignore_border=true"));
}

TEST(Pool2dErrorTest, PadMustBeSmallerThanWs) {
  absl::Status s =
      MakeAndCheck({{"ws", {2, 2}}, {"pad", {2, 1}}, {"ignore_border", true}}, {1, 1, 6, 6});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pool_2d: pad [2, 1] must be smaller than ws [2, 2]"));
}

TEST(Pool2dErrorTest, BadModeAndAttributes) {
  absl::Status s = MakeAndCheck({{"ws", {2, 2}}, {"mode", "average"}}, {1, 1, 6, 6});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("pool_2d: attribute mode must be"));
  EXPECT_THAT(s.message(), HasSubstr("got \"average\""));
  s = MakeAndCheck({{"mode", "max"}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("attribute ws is required"));
  s = MakeAndCheck({{"ws", {0, 2}}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("ws must be a pair of positive integers, got [0, 2]"));
  s = MakeAndCheck({{"ws", {2, 2}}, {"stride", {1, 0}}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("stride must be a pair of positive integers, got [1, 0]"));
  s = MakeAndCheck({{"ws", {2, 2}}, {"pad", {-1, 0}}, {"ignore_border", true}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("pad must be a pair of non-negative integers, got [-1, 0]"));
  s = MakeAndCheck({{"ws", {2, 2}}, {"ds", {2, 2}}}, {1, 1, 6, 6});
  EXPECT_THAT(s.message(), HasSubstr("unknown attribute ds"));
  LayerSpec spec;
  spec.op = "pool_2d";
  spec.attrs = {{"ws", {2, 2}}};
  std::vector<Tensor<float>> params(1);
  EXPECT_EQ(MakePool2d<float>(spec, std::move(params)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------------------------------------
// Random sweep against a naive reference written from the definition: windows
// are laid out from the top-left corner every `stride` over the explicitly
// padded image; with ignore_border=true only windows that fit, with
// ignore_border=false windows are added (clipped to the image) until one
// reaches the last row/column. Padding cells are never candidates;
// average_inc_pad counts them (ws0*ws1) only with ignore_border=true.
std::vector<std::pair<int64_t, int64_t>> NaiveWindows(int64_t n, int64_t ws, int64_t st,
                                                      int64_t pad, bool ignore_border) {
  std::vector<std::pair<int64_t, int64_t>> windows;  // [begin, end) in padded coordinates
  if (ignore_border) {
    for (int64_t s = 0; s + ws <= n + 2 * pad; s += st) windows.emplace_back(s, s + ws);
  } else {
    for (int64_t s = 0; s < n; s += st) {
      windows.emplace_back(s, std::min(s + ws, n));
      if (s + ws >= n) break;
    }
  }
  return windows;
}

template <typename T>
void PoolSweep() {
  std::mt19937 rng(20240601);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::uniform_real_distribution<double> value(-4.0, 4.0);
  const char* kModes[] = {"max", "sum", "average_inc_pad", "average_exc_pad"};
  int nonempty = 0;
  for (int iter = 0; iter < 500; ++iter) {
    const int64_t lead = uniform(1, 3), h = uniform(1, 9), w = uniform(1, 9);
    const int64_t ws0 = uniform(1, 4), ws1 = uniform(1, 4);
    const bool ignore_border = uniform(0, 1) == 1;
    const bool stride_null = uniform(0, 3) == 0;
    const int64_t st0 = stride_null ? ws0 : uniform(1, 4), st1 = stride_null ? ws1 : uniform(1, 4);
    const int64_t p0 = ignore_border ? uniform(0, ws0 - 1) : 0;
    const int64_t p1 = ignore_border ? uniform(0, ws1 - 1) : 0;
    const std::string mode = kModes[uniform(0, 3)];
    json attrs = {
        {"ws", {ws0, ws1}}, {"pad", {p0, p1}}, {"ignore_border", ignore_border}, {"mode", mode}};
    attrs["stride"] = stride_null ? json(nullptr) : json{st0, st1};

    Tensor<T> input({lead, h, w});
    for (T& v : input.values()) v = static_cast<T>(value(rng));
    auto layer = MakePool<T>(attrs);
    ASSERT_TRUE(layer.ok()) << layer.status() << " " << attrs;
    const Tensor<T> got = RunValid(**layer, input);

    const auto rows = NaiveWindows(h, ws0, st0, p0, ignore_border);
    const auto cols = NaiveWindows(w, ws1, st1, p1, ignore_border);
    ASSERT_EQ(got.shape(),
              (Shape{lead, static_cast<int64_t>(rows.size()), static_cast<int64_t>(cols.size())}))
        << attrs << " on " << ShapeToString(input.shape());
    if (!rows.empty() && !cols.empty()) ++nonempty;
    int64_t k = 0;
    for (int64_t p = 0; p < lead; ++p) {
      for (const auto& [r0, r1] : rows) {
        for (const auto& [c0, c1] : cols) {
          T best = -std::numeric_limits<T>::infinity();
          T sum = 0;
          int64_t count = 0;
          for (int64_t y = r0; y < r1; ++y) {
            for (int64_t x = c0; x < c1; ++x) {
              const int64_t iy = y - p0, ix = x - p1;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;  // padding
              const T v = input.data()[(p * h + iy) * w + ix];
              best = std::max(best, v);
              sum += v;
              ++count;
            }
          }
          T want = best;
          if (mode == "sum") want = sum;
          if (mode == "average_exc_pad") want = sum / static_cast<T>(count);
          if (mode == "average_inc_pad") {
            want = sum / static_cast<T>(ignore_border ? ws0 * ws1 : count);
          }
          const T g = got.data()[k++];
          if (mode == "max") {
            ASSERT_EQ(g, want) << attrs;  // bit-exact
          } else {
            ASSERT_NEAR(g, want, 1e-6 * (1 + std::fabs(want))) << attrs;
          }
        }
      }
    }
  }
  EXPECT_GT(nonempty, 400);
}

TEST(Pool2dSweepTest, FloatMatchesNaive) { PoolSweep<float>(); }
TEST(Pool2dSweepTest, DoubleMatchesNaive) { PoolSweep<double>(); }

}  // namespace
}  // namespace theano_serving
