// Tests of conv2d, conv2d_legacy, signal_conv2d (core/ops/conv2d.h) and the
// convolution sizes of core/shape.h. Expected numbers are computed by hand
// (drawn beside each case) or by the naive reference implementations below,
// written straight from the definitions.
#include "core/ops/conv2d.h"

#include <cmath>
#include <cstdint>
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
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using json = nlohmann::json;
using testing_util::RunValid;

LayerSpec Spec(const std::string& op, json attrs) {
  LayerSpec spec;
  spec.op = op;
  spec.attrs = std::move(attrs);
  spec.params = {"filters"};
  return spec;
}

template <typename T>
absl::StatusOr<LayerPtr<T>> Make(const std::string& op, json attrs, Tensor<T> filters) {
  std::vector<Tensor<T>> params;
  params.push_back(std::move(filters));
  if (op == "conv2d") return MakeConv2d<T>(Spec(op, std::move(attrs)), std::move(params));
  if (op == "conv2d_legacy") {
    return MakeConv2dLegacy<T>(Spec(op, std::move(attrs)), std::move(params));
  }
  return MakeSignalConv2d<T>(Spec(op, std::move(attrs)), std::move(params));
}

// The status of making the layer and checking `input_shape` against it.
absl::Status MakeAndCheck(const std::string& op, json attrs, Shape filters_shape,
                          Shape input_shape) {
  absl::StatusOr<LayerPtr<float>> layer =
      Make<float>(op, std::move(attrs), Tensor<float>(filters_shape));
  if (!layer.ok()) return layer.status();
  return (*layer)->OutputShape({input_shape}).status();
}

// ------------------------------------------------------------------------------------------------
// core/shape.h

TEST(ShapeConvTest, FloorDivMatchesPython) {
  EXPECT_EQ(FloorDiv(7, 2), 3);
  EXPECT_EQ(FloorDiv(-1, 2), -1);  // C++ -1 / 2 == 0
  EXPECT_EQ(FloorDiv(-4, 2), -2);
  EXPECT_EQ(FloorDiv(-5, 3), -2);
  EXPECT_EQ(FloorDiv(0, 3), 0);
}

TEST(ShapeConvTest, PaddingPerBorderMode) {
  // kernel 3, dilation 2 -> dilated kernel 5.
  EXPECT_EQ(ConvPadding(BorderMode::kValid, 3, 2, {}).lo, 0);
  EXPECT_EQ(ConvPadding(BorderMode::kFull, 3, 2, {}).lo, 4);
  EXPECT_EQ(ConvPadding(BorderMode::kFull, 3, 2, {}).hi, 4);
  EXPECT_EQ(ConvPadding(BorderMode::kHalf, 3, 2, {}).hi, 2);
  // Even kernel: half pads 2 // 2 = 1 on both sides.
  EXPECT_EQ(ConvPadding(BorderMode::kHalf, 2, 1, {}).lo, 1);
  EXPECT_EQ(ConvPadding(BorderMode::kHalf, 2, 1, {}).hi, 1);
  EXPECT_EQ(ConvPadding(BorderMode::kExplicit, 3, 1, {1, 2}).lo, 1);
  EXPECT_EQ(ConvPadding(BorderMode::kExplicit, 3, 1, {1, 2}).hi, 2);
}

TEST(ShapeConvTest, ConvOutputSize) {
  // Sizes from Theano 1.0.5 (shared golden set, tests/golden/conv2d.json), case
  // name in comment. conv2d_valid_s11_flip: rows 9, k 4 -> 6.
  EXPECT_EQ(ConvOutputSize(9, 4, {0, 0}, 1, 1), 6);
  // conv2d_valid_s22_flip: cols 15, k 1, stride 2 -> 8.
  EXPECT_EQ(ConvOutputSize(15, 1, {0, 0}, 2, 1), 8);
  // conv2d_full_s22_noflip: rows 7, k 5, full, stride 2 -> 6.
  EXPECT_EQ(ConvOutputSize(7, 5, {4, 4}, 2, 1), 6);
  // conv2d_half_s11_noflip: cols 3, even k 4, half -> 4 (one larger than the
  // input).
  EXPECT_EQ(ConvOutputSize(3, 4, {2, 2}, 1, 1), 4);
  // conv2d_p1-2_0-3_s11_flip: rows 3 + 1 + 2, k 3 -> 4; cols 10 + 0 + 3, k 2
  // -> 12.
  EXPECT_EQ(ConvOutputSize(3, 3, {1, 2}, 1, 1), 4);
  EXPECT_EQ(ConvOutputSize(10, 2, {0, 3}, 1, 1), 12);
  // conv2d_dil22_valid_s21_flip: rows 9, k 3 dilated to 5, stride 2 -> 3.
  EXPECT_EQ(ConvOutputSize(9, 3, {0, 0}, 2, 2), 3);
  // conv2d_stride_gt_kernel_k2x3_s45_full: cols 5, k 3, full, stride 5 -> 2.
  EXPECT_EQ(ConvOutputSize(5, 3, {2, 2}, 5, 1), 2);
  // conv2d_error_valid_kernel_gt_image_by1 / by2: 0 and -1 (both "impossible
  // output shape").
  EXPECT_EQ(ConvOutputSize(5, 6, {0, 0}, 1, 1), 0);
  EXPECT_EQ(ConvOutputSize(5, 7, {0, 0}, 1, 1), -1);
  // Floor, not truncation: (5 - 6) // 2 + 1 = 0, not 1.
  EXPECT_EQ(ConvOutputSize(5, 6, {0, 0}, 2, 1), 0);
}

TEST(ShapeConvTest, LegacyOutputSizeIsCeilOfValidOrFull) {
  // tests/golden/conv2d_legacy.json:
  // conv2d_legacy_valid_s22_3x9_k1x3: valid 3x7, subsample 2 -> 2x4.
  EXPECT_EQ(LegacyConvOutputSize(3, 1, false, 2), 2);
  EXPECT_EQ(LegacyConvOutputSize(9, 3, false, 2), 4);
  // conv2d_legacy_full_s22_6x15_k4x2: full 9x16, subsample 2 -> 5x8.
  EXPECT_EQ(LegacyConvOutputSize(6, 4, true, 2), 5);
  EXPECT_EQ(LegacyConvOutputSize(15, 2, true, 2), 8);
  // conv2d_legacy_full_s13_12x4_k1x1: cols 4, subsample 3 -> 2.
  EXPECT_EQ(LegacyConvOutputSize(4, 1, true, 3), 2);
  // conv2d_legacy_error_valid_kernel_gt_image: 3 rows, k 4 -> 0 ("not valid
  // 0x2").
  EXPECT_EQ(LegacyConvFullSize(3, 4, false), 0);
  EXPECT_EQ(LegacyConvOutputSize(3, 4, false, 2), 0);
  // Equal to the CorrMM formula whenever positive.
  for (int64_t in = 1; in < 12; ++in) {
    for (int64_t k = 1; k <= in; ++k) {
      for (int64_t s = 1; s < 5; ++s) {
        EXPECT_EQ(LegacyConvOutputSize(in, k, false, s), ConvOutputSize(in, k, {0, 0}, s, 1));
        EXPECT_EQ(LegacyConvOutputSize(in, k, true, s),
                  ConvOutputSize(in, k, {k - 1, k - 1}, s, 1));
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// conv2d: hand-computed cases. Image and kernel (stored, unflipped) used below:
//
//   input 1x1x3x3      filters 1x1x2x2
//   1 2 3              1 2
//   4 5 6              3 4
//   7 8 9
const std::vector<float> kImage3x3 = {1, 2, 3, 4, 5, 6, 7, 8, 9};
const std::vector<float> kKernel2x2 = {1, 2, 3, 4};

TEST(Conv2dTest, ValidCorrelationWithoutFlip) {
  // filter_flip=false is a cross-correlation:
  //   37 47      37 = 1*1 + 2*2 + 4*3 + 5*4
  //   67 77
  auto layer = Make<float>("conv2d", {{"border_mode", "valid"}, {"filter_flip", false}},
                           Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3));
  EXPECT_THAT(out.shape(), ElementsAre(1, 1, 2, 2));
  EXPECT_THAT(out.values(), ElementsAre(37, 47, 67, 77));
}

TEST(Conv2dTest, ValidConvolutionFlipsKernel) {
  // filter_flip=true (the default) correlates with the kernel rotated 180° (4 3
  // / 2 1):
  //   23 33      23 = 1*4 + 2*3 + 4*2 + 5*1
  //   53 63
  auto layer = Make<float>("conv2d", json::object(), Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3));
  EXPECT_THAT(out.values(), ElementsAre(23, 33, 53, 63));
  // Flipping happens once, at construction: a second run gives the same result.
  EXPECT_THAT(RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3)).values(),
              ElementsAre(23, 33, 53, 63));
}

TEST(Conv2dTest, HalfWithEvenKernelIsOneLarger) {
  // half pads 2 // 2 = 1 on every side, so a 2x2 kernel gives a 4x4 output from
  // a 3x3 image (Theano, README of the golden set). Correlation over the
  // zero-padded image:
  //   0 0 0 0 0
  //   0 1 2 3 0        4 11 18  9
  //   0 4 5 6 0   ->  18 37 47 21
  //   0 7 8 9 0       36 67 77 33
  //   0 0 0 0 0       14 23 26  9
  auto layer = Make<float>("conv2d", {{"border_mode", "half"}, {"filter_flip", false}},
                           Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3));
  EXPECT_THAT(out.shape(), ElementsAre(1, 1, 4, 4));
  EXPECT_THAT(out.values(),
              ElementsAre(4, 11, 18, 9, 18, 37, 47, 21, 36, 67, 77, 33, 14, 23, 26, 9));
}

TEST(Conv2dTest, FullConvolution) {
  // full pads k-1 = 1; with the flipped kernel (4 3 / 2 1) the result is the
  // textbook full convolution of the two matrices:
  //    1  4  7  6
  //    7 23 33 24
  //   19 53 63 42
  //   21 52 59 36
  auto layer =
      Make<float>("conv2d", {{"border_mode", "full"}}, Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3));
  EXPECT_THAT(out.values(), ElementsAre(1, 4, 7, 6, 7, 23, 33, 24, 19, 53, 63, 42, 21, 52, 59, 36));
}

TEST(Conv2dTest, SubsampleDilationAndAsymmetricPadding) {
  // subsample [2, 2] of the valid correlation keeps only (0, 0): 37.
  auto strided = Make<float>("conv2d", {{"subsample", {2, 2}}, {"filter_flip", false}},
                             Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(strided.ok()) << strided.status();
  EXPECT_THAT(RunValid(**strided, Tensor<float>({1, 1, 3, 3}, kImage3x3)).values(),
              ElementsAre(37));
  // filter_dilation [2, 2] spreads the taps over the corners: 1*1 + 3*2 + 7*3 +
  // 9*4 = 64.
  auto dilated = Make<float>("conv2d", {{"filter_dilation", {2, 2}}, {"filter_flip", false}},
                             Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(dilated.ok()) << dilated.status();
  EXPECT_THAT(RunValid(**dilated, Tensor<float>({1, 1, 3, 3}, kImage3x3)).values(),
              ElementsAre(64));
  // border_mode [[0, 1], [1, 0]]: one zero row at the bottom, one zero column
  // on the left.
  //   0 1 2 3
  //   0 4 5 6   ->  1*0+2*1+3*0+4*4 = 18  37  47
  //   0 7 8 9                       36  67  77
  //   0 0 0 0                       14  23  26
  auto padded = Make<float>("conv2d", {{"border_mode", {{0, 1}, {1, 0}}}, {"filter_flip", false}},
                            Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_THAT(RunValid(**padded, Tensor<float>({1, 1, 3, 3}, kImage3x3)).values(),
              ElementsAre(18, 37, 47, 36, 67, 77, 14, 23, 26));
}

TEST(Conv2dTest, GroupsSeeOnlyTheirChannels) {
  // num_groups 2, filters (4, 1, 1, 1) = 1, 10, 100, 1000: outputs 0-1 read
  // channel 0 (values 1), outputs 2-3 read channel 1 (values 2).
  auto layer =
      Make<float>("conv2d", {{"num_groups", 2}}, Tensor<float>({4, 1, 1, 1}, {1, 10, 100, 1000}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 2, 1, 1}, {1, 2}));
  EXPECT_THAT(out.shape(), ElementsAre(1, 4, 1, 1));
  EXPECT_THAT(out.values(), ElementsAre(1, 10, 200, 2000));
}

TEST(Conv2dTest, EmptyBatchIsFine) {
  // Theano 1.0.5, golden case conv2d_empty_batch0_valid: (0, 2, 5, 6) * (3, 2,
  // 3, 2) -> (0, 3, 3, 5).
  auto layer = Make<float>("conv2d", json::object(), Tensor<float>({3, 2, 3, 2}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  absl::StatusOr<Shape> shape = (*layer)->OutputShape({Shape{0, 2, 5, 6}});
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_THAT(*shape, ElementsAre(0, 3, 3, 5));
  EXPECT_EQ(RunValid(**layer, Tensor<float>({0, 2, 5, 6})).size(), 0);
}

TEST(Conv2dTest, FlopsAndParams) {
  auto layer = Make<float>("conv2d", {{"num_groups", 2}}, Tensor<float>({4, 3, 5, 5}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->NumParams(), 4 * 3 * 5 * 5);
  // 2 * N * O * oh * ow * (C / G) * kh * kw with output (2, 4, 24, 24).
  EXPECT_EQ((*layer)->Flops({Shape{2, 6, 28, 28}}), 2LL * 2 * 4 * 24 * 24 * 3 * 5 * 5);
}

// ------------------------------------------------------------------------------------------------
// conv2d: errors. Each golden error case of tests/golden/conv2d.json is
// reproduced.

TEST(Conv2dErrorTest, ImpossibleOutputShape) {
  // conv2d_error_valid_kernel_gt_image_by1: output rows 5 - 6 + 1 = 0.
  absl::Status s = MakeAndCheck("conv2d", json::object(), {3, 2, 6, 6}, {1, 2, 5, 6});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("conv2d: impossible output shape (0, 1)"));
  EXPECT_THAT(s.message(), HasSubstr("(1, 2, 5, 6)"));
  EXPECT_THAT(s.message(), HasSubstr("(3, 2, 6, 6)"));
  // conv2d_error_dilated_kernel_gt_image: 3 taps dilated 2 span 5 rows of 4.
  s = MakeAndCheck("conv2d", {{"filter_dilation", {2, 1}}}, {1, 1, 3, 2}, {1, 1, 4, 6});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("impossible output shape (0, 5)"));
  EXPECT_THAT(s.message(), HasSubstr("filter_dilation (2, 1)"));
}

TEST(Conv2dErrorTest, ChannelMismatch) {
  // conv2d_error_channel_mismatch.
  absl::Status s = MakeAndCheck("conv2d", json::object(), {4, 2, 3, 3}, {2, 3, 6, 7});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("conv2d: input has 3 channels, filters expect 2 (filters "
                                     "shape (4, 2, 3, 3), num_groups 1)"));
  // conv2d_error_groups_not_dividing_channels: 3 groups of 2 channels need 6.
  s = MakeAndCheck("conv2d", {{"num_groups", 3}}, {6, 2, 3, 3}, {1, 4, 6, 7});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input has 4 channels, filters expect 6"));
  // Wrong rank.
  s = MakeAndCheck("conv2d", json::object(), {4, 2, 3, 3}, {2, 6, 7});
  EXPECT_THAT(s.message(), HasSubstr("input must be 4-D"));
}

TEST(Conv2dErrorTest, FiltersNotDivisibleByGroups) {
  // conv2d_error_groups_filters_not_divisible.
  absl::Status s = MakeAndCheck("conv2d", {{"num_groups", 2}}, {3, 2, 3, 3}, {1, 4, 6, 7});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("3 output channels, not divisible by num_groups 2"));
}

TEST(Conv2dErrorTest, BadBorderModes) {
  struct Case {
    json border_mode;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {-1, "invalid border_mode -1"},              // conv2d_error_negative_pad
      {"same", "invalid border_mode \"same\""},    // conv2d_error_unknown_border_mode
      {{1, 1, 1}, "invalid border_mode [1,1,1]"},  // conv2d_error_border_mode_tuple_len3
      {{1, -2}, "invalid border_mode [1,-2]"},     // negative element
      {{{1, 2}, {3}}, "invalid border_mode [[1,2],[3]]"},
      {1.5, "invalid border_mode 1.5"},
  };
  for (const Case& c : cases) {
    absl::Status s =
        MakeAndCheck("conv2d", {{"border_mode", c.border_mode}}, {2, 1, 3, 3}, {1, 1, 5, 6});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.border_mode;
    EXPECT_THAT(s.message(), HasSubstr("conv2d: " + c.expected));
  }
}

TEST(Conv2dErrorTest, BadAttributesAndParams) {
  absl::Status s = MakeAndCheck("conv2d", {{"subsample", {0, 1}}}, {2, 1, 3, 3}, {1, 1, 5, 6});
  EXPECT_THAT(s.message(), HasSubstr("subsample must be a pair of positive integers, got [0, 1]"));
  s = MakeAndCheck("conv2d", {{"filter_dilation", {1, -1}}}, {2, 1, 3, 3}, {1, 1, 5, 6});
  EXPECT_THAT(s.message(),
              HasSubstr("filter_dilation must be a pair of positive integers, got [1, -1]"));
  s = MakeAndCheck("conv2d", {{"num_groups", 0}}, {2, 1, 3, 3}, {1, 1, 5, 6});
  EXPECT_THAT(s.message(), HasSubstr("num_groups must be a positive integer, got 0"));
  s = MakeAndCheck("conv2d", {{"padding", 1}}, {2, 1, 3, 3}, {1, 1, 5, 6});
  EXPECT_THAT(s.message(), HasSubstr("unknown attribute padding"));
  s = MakeAndCheck("conv2d", json::object(), {2, 1, 3}, {1, 1, 5, 6});
  EXPECT_THAT(s.message(), HasSubstr("filters must be 4-D"));
  absl::StatusOr<LayerPtr<float>> none =
      MakeConv2d<float>(Spec("conv2d", json::object()), std::vector<Tensor<float>>{});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------------------------------------
// conv2d_legacy and signal_conv2d

TEST(Conv2dLegacyTest, AlwaysFlipsAndSubsamplesTheValidResult) {
  // Valid convolution = 23 33 / 53 63 (see
  // Conv2dTest.ValidConvolutionFlipsKernel); subsample [1, 2] keeps columns 0:
  // 23 / 53.
  auto layer = Make<float>("conv2d_legacy", {{"subsample", {1, 2}}},
                           Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3));
  EXPECT_THAT(out.shape(), ElementsAre(1, 1, 2, 1));
  EXPECT_THAT(out.values(), ElementsAre(23, 53));
}

TEST(Conv2dLegacyTest, FullWithSubsampleKeepsEverySecondOfTheFullResult) {
  // Full convolution (Conv2dTest.FullConvolution), every second row and column:
  // ceil(4/2) = 2.
  //    1  4  7  6
  //    7 23 33 24   ->   1  7
  //   19 53 63 42       19 63
  //   21 52 59 36
  auto layer = Make<float>("conv2d_legacy", {{"border_mode", "full"}, {"subsample", {2, 2}}},
                           Tensor<float>({1, 1, 2, 2}, kKernel2x2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_THAT(RunValid(**layer, Tensor<float>({1, 1, 3, 3}, kImage3x3)).values(),
              ElementsAre(1, 7, 19, 63));
}

TEST(Conv2dLegacyTest, Errors) {
  // conv2d_legacy_error_valid_kernel_gt_image.
  absl::Status s = MakeAndCheck("conv2d_legacy", json::object(), {1, 1, 4, 2}, {1, 1, 3, 3});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("conv2d_legacy: output dimensions are not valid 0x2"));
  // conv2d_legacy_error_bad_border_mode.
  s = MakeAndCheck("conv2d_legacy", {{"border_mode", "half"}}, {1, 1, 3, 3}, {1, 1, 5, 5});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("conv2d_legacy: border_mode \"half\" is not supported"));
  s = MakeAndCheck("conv2d_legacy", {{"filter_flip", false}}, {1, 1, 3, 3}, {1, 1, 5, 5});
  EXPECT_THAT(s.message(), HasSubstr("unknown attribute filter_flip"));
  s = MakeAndCheck("conv2d_legacy", json::object(), {1, 2, 3, 3}, {1, 1, 5, 5});
  EXPECT_THAT(s.message(), HasSubstr("input has 1 channels, filters expect 2"));
}

TEST(Conv2dSignalTest, OutputRanksFollowImageAndKernelRanks) {
  // Shapes as in tests/golden/signal_conv2d.json (Theano 1.0.5).
  struct Case {
    Shape image, kernel, expected;
  };
  const std::vector<Case> cases = {
      {{11, 13}, {1, 4}, {11, 10}},          // signal_conv2d_2d_2d_valid_s11
      {{3, 6, 7}, {2, 3}, {3, 5, 5}},        // signal_conv2d_3d_img_2d_kern_valid
      {{2, 6, 5}, {3, 2, 2}, {2, 3, 5, 4}},  // signal_conv2d_3d_img_3d_kern_valid
  };
  for (const Case& c : cases) {
    auto layer = Make<float>("signal_conv2d", json::object(), Tensor<float>(c.kernel));
    ASSERT_TRUE(layer.ok()) << layer.status();
    absl::StatusOr<Shape> shape = (*layer)->OutputShape({c.image});
    ASSERT_TRUE(shape.ok()) << shape.status();
    EXPECT_EQ(*shape, c.expected);
  }
  // signal_conv2d_2d_img_3d_kern_full: (5, 4) with (2, 3, 2), full -> (2, 7,
  // 5).
  auto full = Make<float>("signal_conv2d", {{"border_mode", "full"}}, Tensor<float>({2, 3, 2}));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_THAT(*(*full)->OutputShape({Shape{5, 4}}), ElementsAre(2, 7, 5));
}

TEST(Conv2dSignalTest, TwoKernelsOnTwoImages) {
  // Images: the 3x3 matrix and its negation; kernels: the 2x2 matrix and the
  // identity 1x1 padded to 2x2 (0 0 / 0 1, which flipped picks the top-left
  // tap: out = in[:2, :2]).
  Tensor<float> images({2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2, -3, -4, -5, -6, -7, -8, -9});
  auto layer = Make<float>("signal_conv2d", json::object(),
                           Tensor<float>({2, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 1}));
  ASSERT_TRUE(layer.ok()) << layer.status();
  Tensor<float> out = RunValid(**layer, images);
  EXPECT_THAT(out.shape(), ElementsAre(2, 2, 2, 2));
  EXPECT_THAT(out.values(), ElementsAre(23, 33, 53, 63, 1, 2, 4, 5,  //
                                        -23, -33, -53, -63, -1, -2, -4, -5));
}

TEST(Conv2dSignalTest, Errors) {
  // signal_conv2d_error_kernel_gt_image.
  absl::Status s = MakeAndCheck("signal_conv2d", json::object(), {4, 3}, {3, 3});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("signal_conv2d: output dimensions are not valid 0x1"));
  s = MakeAndCheck("signal_conv2d", json::object(), {1, 1, 4, 3}, {3, 3});
  EXPECT_THAT(s.message(), HasSubstr("filters must be 2-D (rows, columns) or 3-D"));
  s = MakeAndCheck("signal_conv2d", json::object(), {2, 2}, {1, 1, 3, 3});
  EXPECT_THAT(s.message(), HasSubstr("input must be 2-D (rows, columns) or 3-D"));
}

// ------------------------------------------------------------------------------------------------
// Random sweeps against naive references, written straight from the
// definitions.

// conv2d: pad the image explicitly, rotate the kernel explicitly when flipping,
// and enumerate output positions while the dilated kernel still fits in the
// padded image. Accumulates in double.
struct NaiveConvResult {
  Shape shape;
  std::vector<double> data;
};

template <typename T>
NaiveConvResult NaiveConv2d(const Tensor<T>& in, const Tensor<T>& w, int64_t pt, int64_t pb,
                            int64_t pl, int64_t pr, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                            bool flip, int64_t groups) {
  const int64_t n = in.dim(0), c = in.dim(1), h = in.dim(2), wd = in.dim(3);
  const int64_t o = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t ph = h + pt + pb, pw = wd + pl + pr;
  std::vector<double> padded(static_cast<size_t>(n * c * ph * pw), 0.0);
  for (int64_t a = 0; a < n * c; ++a) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < wd; ++x) {
        padded[static_cast<size_t>((a * ph + y + pt) * pw + x + pl)] =
            in.data()[(a * h + y) * wd + x];
      }
    }
  }
  int64_t oh = 0, ow = 0;
  while (oh * sh + (kh - 1) * dh + 1 <= ph) ++oh;
  while (ow * sw + (kw - 1) * dw + 1 <= pw) ++ow;
  NaiveConvResult r{{n, o, oh, ow}, std::vector<double>(static_cast<size_t>(n * o * oh * ow))};
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t f = 0; f < o; ++f) {
      const int64_t group = f / (o / groups);
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t x = 0; x < ow; ++x) {
          double acc = 0;
          for (int64_t ch = 0; ch < cg; ++ch) {
            for (int64_t i = 0; i < kh; ++i) {
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ki = flip ? kh - 1 - i : i, kj = flip ? kw - 1 - j : j;
                const double wv = w.data()[((f * cg + ch) * kh + ki) * kw + kj];
                const int64_t img = b * c + group * cg + ch;
                acc += wv * padded[static_cast<size_t>((img * ph + y * sh + i * dh) * pw + x * sw +
                                                       j * dw)];
              }
            }
          }
          r.data[static_cast<size_t>(((b * o + f) * oh + y) * ow + x)] = acc;
        }
      }
    }
  }
  return r;
}

template <typename T>
Tensor<T> RandomTensor(Shape shape, std::mt19937* rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Tensor<T> t(std::move(shape));
  for (T& v : t.values()) v = static_cast<T>(dist(*rng));
  return t;
}

int64_t Uniform(std::mt19937* rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(*rng);
}

template <typename T>
void ExpectClose(const Tensor<T>& got, const NaiveConvResult& want, double tol,
                 const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape) << what;
  for (int64_t i = 0; i < got.size(); ++i) {
    const double w = want.data[static_cast<size_t>(i)];
    ASSERT_NEAR(got.data()[i], w, tol * (1 + std::fabs(w))) << what << " at " << i;
  }
}

template <typename T>
void Conv2dSweep(double tol) {
  std::mt19937 rng(20240601);
  int ran = 0, impossible = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const int64_t groups = Uniform(&rng, 1, 3);
    const int64_t cg = Uniform(&rng, 1, 3), og = Uniform(&rng, 1, 3);
    const int64_t n = Uniform(&rng, 0, 2), h = Uniform(&rng, 1, 9), wd = Uniform(&rng, 1, 9);
    const int64_t kh = Uniform(&rng, 1, 4), kw = Uniform(&rng, 1, 4);
    const int64_t sh = Uniform(&rng, 1, 3), sw = Uniform(&rng, 1, 3);
    const int64_t dh = Uniform(&rng, 1, 2), dw = Uniform(&rng, 1, 2);
    const bool flip = Uniform(&rng, 0, 1) == 1;
    const int64_t dkh = (kh - 1) * dh + 1, dkw = (kw - 1) * dw + 1;
    int64_t pt = 0, pb = 0, pl = 0, pr = 0;
    json border_mode;
    switch (Uniform(&rng, 0, 5)) {
      case 0:
        border_mode = "valid";
        break;
      case 1:
        border_mode = "full";
        pt = pb = dkh - 1;
        pl = pr = dkw - 1;
        break;
      case 2:
        border_mode = "half";
        pt = pb = dkh / 2;
        pl = pr = dkw / 2;
        break;
      case 3:
        pt = pb = pl = pr = Uniform(&rng, 0, 3);
        border_mode = pt;
        break;
      case 4:
        pt = pb = Uniform(&rng, 0, 3);
        pl = pr = Uniform(&rng, 0, 3);
        border_mode = {pt, pl};
        break;
      default:
        pt = Uniform(&rng, 0, 3), pb = Uniform(&rng, 0, 3);
        pl = Uniform(&rng, 0, 3), pr = Uniform(&rng, 0, 3);
        border_mode = {{pt, pb}, {pl, pr}};
        break;
    }
    const json attrs = {{"border_mode", border_mode},
                        {"subsample", {sh, sw}},
                        {"filter_flip", flip},
                        {"filter_dilation", {dh, dw}},
                        {"num_groups", groups}};
    const Tensor<T> input = RandomTensor<T>({n, groups * cg, h, wd}, &rng);
    const Tensor<T> filters = RandomTensor<T>({groups * og, cg, kh, kw}, &rng);
    const NaiveConvResult want =
        NaiveConv2d(input, filters, pt, pb, pl, pr, sh, sw, dh, dw, flip, groups);
    auto layer = Make<T>("conv2d", attrs, filters);
    ASSERT_TRUE(layer.ok()) << layer.status();
    absl::StatusOr<Shape> shape = (*layer)->OutputShape({input.shape()});
    if (want.shape[2] == 0 || want.shape[3] == 0) {
      EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument) << attrs;
      ++impossible;
      continue;
    }
    ExpectClose(RunValid(**layer, input), want, tol, attrs.dump());
    ++ran;
  }
  // The sweep must exercise both outcomes.
  EXPECT_GT(ran, 200);
  EXPECT_GT(impossible, 5);
}

TEST(Conv2dSweepTest, FloatMatchesNaive) { Conv2dSweep<float>(1e-5); }
TEST(Conv2dSweepTest, DoubleMatchesNaive) { Conv2dSweep<double>(1e-12); }

// Legacy ConvOp by its definition: the textbook full convolution
//   full[y, x] = sum_{a, b} in[a, b] * k[y - a, x - b],
// its valid part (rows kh-1 .. h-1), then every subsample-th element.
template <typename T>
void LegacySweep(double tol) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 150; ++iter) {
    const int64_t n = Uniform(&rng, 1, 2), c = Uniform(&rng, 1, 3), o = Uniform(&rng, 1, 3);
    const int64_t h = Uniform(&rng, 1, 8), wd = Uniform(&rng, 1, 8);
    const int64_t kh = Uniform(&rng, 1, 4), kw = Uniform(&rng, 1, 4);
    const int64_t sh = Uniform(&rng, 1, 3), sw = Uniform(&rng, 1, 3);
    const bool full = Uniform(&rng, 0, 1) == 1;
    if (!full && (kh > h || kw > wd)) continue;
    const Tensor<T> input = RandomTensor<T>({n, c, h, wd}, &rng);
    const Tensor<T> filters = RandomTensor<T>({o, c, kh, kw}, &rng);
    const int64_t fh = h + kh - 1, fw = wd + kw - 1;
    std::vector<double> conv(static_cast<size_t>(n * o * fh * fw), 0.0);
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t f = 0; f < o; ++f) {
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t a = 0; a < h; ++a) {
            for (int64_t bb = 0; bb < wd; ++bb) {
              for (int64_t i = 0; i < kh; ++i) {
                for (int64_t j = 0; j < kw; ++j) {
                  conv[static_cast<size_t>(((b * o + f) * fh + a + i) * fw + bb + j)] +=
                      static_cast<double>(input.data()[((b * c + ch) * h + a) * wd + bb]) *
                      filters.data()[((f * c + ch) * kh + i) * kw + j];
                }
              }
            }
          }
        }
      }
    }
    const int64_t y0 = full ? 0 : kh - 1, x0 = full ? 0 : kw - 1;
    const int64_t y1 = full ? fh : h, x1 = full ? fw : wd;  // exclusive ends
    NaiveConvResult want;
    int64_t oh = 0, ow = 0;
    for (int64_t y = y0; y < y1; y += sh) ++oh;
    for (int64_t x = x0; x < x1; x += sw) ++ow;
    want.shape = {n, o, oh, ow};
    for (int64_t p = 0; p < n * o; ++p) {
      for (int64_t y = y0; y < y1; y += sh) {
        for (int64_t x = x0; x < x1; x += sw) {
          want.data.push_back(conv[static_cast<size_t>((p * fh + y) * fw + x)]);
        }
      }
    }
    const json attrs = {{"border_mode", full ? "full" : "valid"}, {"subsample", {sh, sw}}};
    auto layer = Make<T>("conv2d_legacy", attrs, filters);
    ASSERT_TRUE(layer.ok()) << layer.status();
    ExpectClose(RunValid(**layer, input), want, tol, attrs.dump());
  }
}

TEST(Conv2dLegacySweepTest, FloatMatchesNaive) { LegacySweep<float>(1e-5); }
TEST(Conv2dLegacySweepTest, DoubleMatchesNaive) { LegacySweep<double>(1e-12); }

}  // namespace
}  // namespace theano_serving
