// pad, dimshuffle, reshape and subtensor: shapes, element placement, the batch-axis rules, errors,
// float64. PadLayer, DimshuffleLayer, SliceLayer and ReshapeLayer are pinned against Theano in
// import_ops_test.cc.
#include "core/ops/shape_ops.h"

#include <numeric>
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
using testing_util::RunOp;

// 0, 1, 2, ... in `shape`.
Tensor<float> Iota(const Shape& shape) {
  Tensor<float> t(shape);
  std::iota(t.values().begin(), t.values().end(), 0.f);
  return t;
}

std::string Message(const std::string& op, const char* attrs, const Shape& in) {
  auto y = RunOp(op, attrs, Tensor<float>(in));
  EXPECT_FALSE(y.ok()) << op << " " << attrs;
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(y.status().message());
}

TEST(PadTest, PadsTheTrailingAxes) {
  // x (1, 2, 3) = [[[0, 1, 2], [3, 4, 5]]], width [[1, 0], [0, 2]], value 9:
  //   [[[9, 9, 9, 9, 9],
  //     [0, 1, 2, 9, 9],
  //     [3, 4, 5, 9, 9]]]   (by hand)
  auto y = RunOp("pad", R"({"width": [[1, 0], [0, 2]], "value": 9})", Iota({1, 2, 3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{1, 3, 5}));
  EXPECT_THAT(y->values(), ElementsAre(9, 9, 9, 9, 9, 0, 1, 2, 9, 9, 3, 4, 5, 9, 9));
  // One int pads both sides; only the last axis here: (2, 1, 2) -> (2, 1, 4) with zeros.
  y = RunOp("pad", R"({"width": [1]})", Iota({2, 1, 2}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{2, 1, 4}));
  EXPECT_THAT(y->values(), ElementsAre(0, 0, 1, 0, 0, 2, 3, 0));
  auto d = RunOp<double>("pad", R"({"width": [[0, 1]], "value": 0.1})", Tensor<double>({1, 1}));
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(d->values(), ElementsAre(0.0, 0.1));
}

TEST(PadTest, Errors) {
  EXPECT_THAT(
      Message("pad", R"({"width": [1, 1]})", {2, 3}),
      HasSubstr("pad \"layer\": width pads the last 2 axes but input (2, 3) has rank 2; axis "
                "0, the batch axis, is never padded"));
  EXPECT_THAT(Message("pad", R"({"width": [[1, -1]]})", {2, 3}),
              HasSubstr("attribute width must be a non-empty list of [before, after] pairs"));
  EXPECT_THAT(Message("pad", R"({"width": [[1, 2, 3]]})", {2, 3}), HasSubstr("got [[1,2,3]]"));
  EXPECT_THAT(Message("pad", "{}", {2, 3}), HasSubstr("got nothing"));
  EXPECT_THAT(Message("pad", R"({"width": [[9223372036854775807, 1]]})", {2, 3}),
              HasSubstr("width [9223372036854775807, 1] overflows axis 1 of input (2, 3)"));
  EXPECT_THAT(Message("pad", R"({"width": [1], "val": 1})", {2, 3}),
              HasSubstr("unknown attribute val"));
}

TEST(DimshuffleTest, PermutesAndAddsAxes) {
  // x (1, 2, 3) = [[[0, 1, 2], [3, 4, 5]]]; pattern (0, 2, 1) -> [[[0, 3], [1, 4], [2, 5]]]
  auto y = RunOp("dimshuffle", R"({"pattern": [0, 2, 1]})", Iota({1, 2, 3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{1, 3, 2}));
  EXPECT_THAT(y->values(), ElementsAre(0, 3, 1, 4, 2, 5));
  // (0, "x", 1, "x"): (2, 3) -> (2, 1, 3, 1), data unchanged.
  y = RunOp("dimshuffle", R"({"pattern": [0, "x", 1, "x"]})", Iota({2, 3}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{2, 1, 3, 1}));
  EXPECT_THAT(y->values(), ElementsAre(0, 1, 2, 3, 4, 5));
  // Dropping a size-1 axis: (2, 1, 3) with pattern (0, 2) -> (2, 3).
  y = RunOp("dimshuffle", R"({"pattern": [0, 2]})", Iota({2, 1, 3}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{2, 3}));
  // A 5-D transpose against the index formula.
  const Tensor<float> x = Iota({2, 3, 4, 5, 6});
  y = RunOp("dimshuffle", R"({"pattern": [0, 3, 1, 4, 2]})", x);
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->shape(), (Shape{2, 5, 3, 6, 4}));
  for (int n = 0; n < 2; ++n)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 4; ++b)
        for (int c = 0; c < 5; ++c)
          for (int d = 0; d < 6; ++d)
            ASSERT_EQ(y->data()[(((n * 5 + c) * 3 + a) * 6 + d) * 4 + b],
                      x.data()[(((n * 3 + a) * 4 + b) * 5 + c) * 6 + d]);
}

TEST(DimshuffleTest, Errors) {
  EXPECT_THAT(Message("dimshuffle", R"({"pattern": [1, 0]})", {2, 3}),
              HasSubstr("dimshuffle \"layer\": attribute pattern must be a list of input axes and "
                        "\"x\" starting with 0 (the batch axis), each axis at most once, got "
                        "[1,0]"));
  EXPECT_THAT(Message("dimshuffle", R"({"pattern": [0, 1, 1]})", {2, 3}), HasSubstr("[0,1,1]"));
  EXPECT_THAT(Message("dimshuffle", R"({"pattern": [0, "y"]})", {2, 3}), HasSubstr("[0,\"y\"]"));
  EXPECT_THAT(Message("dimshuffle", R"({"pattern": [0]})", {2, 3}),
              HasSubstr("pattern drops axis 1 of input (2, 3), which has size 3; only axes of size "
                        "1 (broadcastable) may be dropped"));
  EXPECT_THAT(Message("dimshuffle", R"({"pattern": [0, 2]})", {2, 3}),
              HasSubstr("pattern names axis 2 but input (2, 3) has rank 2"));
}

TEST(ReshapeTest, SizesReferencesAndInference) {
  // Lasagne's ReshapeLayer(([0], -1)): (2, 3, 4) -> (2, 12), data unchanged.
  auto y = RunOp("reshape", R"({"shape": [[0], -1]})", Iota({2, 3, 4}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{2, 12}));
  EXPECT_EQ(y->values(), Iota({2, 12}).values());
  // FeaturePoolLayer's reshape: (N, C, H, W) -> (N, C / 2, 2, H, W) written with references.
  y = RunOp("reshape", R"({"shape": [[0], 2, 2, [2], [3]]})", Iota({3, 4, 2, 5}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{3, 2, 2, 2, 5}));
  // -1 in the middle; a batch of 0 still infers from the other axes.
  y = RunOp("reshape", R"({"shape": [[0], 3, -1, 2]})", Tensor<float>({0, 12}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{0, 3, 2, 2}));
}

TEST(ReshapeTest, Errors) {
  EXPECT_THAT(
      Message("reshape", R"({"shape": [[0], 5]})", {2, 12}),
      HasSubstr("reshape \"layer\": cannot reshape input (2, 12) (12 elements per batch item) "
                "into (2, 5) (5)"));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], 5, -1]})", {2, 12}),
              HasSubstr("cannot reshape input (2, 12) into ([0], 5, -1): the 12 elements per batch "
                        "item are not a multiple of 5"));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], 0, -1]})", {2, 12}),
              HasSubstr("not a multiple of 0"));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], [3]]})", {2, 12}),
              HasSubstr("shape entry 1 refers to axis 3 but input (2, 12) has rank 2"));
  const char* bad = "attribute shape must be a list starting with [0] (the batch axis)";
  EXPECT_THAT(Message("reshape", R"({"shape": [2, -1]})", {2, 12}), HasSubstr(bad));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], [0]]})", {2, 12}), HasSubstr(bad));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], -1, -1]})", {2, 12}), HasSubstr(bad));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], -2]})", {2, 12}), HasSubstr(bad));
  EXPECT_THAT(Message("reshape", R"({"shape": [[0], 4294967296, 4294967296, -1]})", {2, 12}),
              HasSubstr("has more elements than an int64 holds"));
}

TEST(SubtensorTest, ExtremeSliceBoundsClampAsPython) {
  // x[0, -2**63 : 2**63-1] is all of x; x[0, 2**63-1 : -2**63 : -4] = [6, 2]   (by hand)
  auto y = RunOp("subtensor",
                 R"({"axis": 1, "start": -9223372036854775808, "stop": 9223372036854775807})",
                 Iota({1, 7}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->values(), Iota({1, 7}).values());
  y = RunOp("subtensor",
            R"({"axis": 1, "start": 9223372036854775807, "stop": -9223372036854775808,
                "step": -4})",
            Iota({1, 7}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->values(), ElementsAre(6, 2));
}

TEST(SubtensorTest, IndexDropsTheAxis) {
  // x (2, 3) = [[0, 1, 2], [3, 4, 5]]; x[:, 1] = [1, 4]; x[:, -1] = [2, 5]   (by hand)
  auto y = RunOp("subtensor", R"({"axis": 1, "index": 1})", Iota({2, 3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (Shape{2}));
  EXPECT_THAT(y->values(), ElementsAre(1, 4));
  y = RunOp("subtensor", R"({"axis": -1, "index": -1})", Iota({2, 3}));
  ASSERT_TRUE(y.ok());
  EXPECT_THAT(y->values(), ElementsAre(2, 5));
}

TEST(SubtensorTest, SlicesFollowPython) {
  // x (1, 7) = [[0 .. 6]]: every slice below is Python's x[0, start:stop:step] (by hand).
  struct Case {
    const char* attrs;
    std::vector<float> want;
  };
  const Case cases[] = {
      {R"({"axis": 1, "start": 0, "stop": 5})", {0, 1, 2, 3, 4}},
      {R"({"axis": 1, "start": 2})", {2, 3, 4, 5, 6}},
      {R"({"axis": 1, "stop": -2})", {0, 1, 2, 3, 4}},
      {R"({"axis": 1, "start": -3, "stop": 100})", {4, 5, 6}},
      {R"({"axis": 1, "step": 3})", {0, 3, 6}},
      {R"({"axis": 1, "step": -1})", {6, 5, 4, 3, 2, 1, 0}},
      {R"({"axis": 1, "start": 5, "stop": 1, "step": -2})", {5, 3}},
      {R"({"axis": 1, "start": 100, "stop": -100, "step": -3})", {6, 3, 0}},
      {R"({"axis": 1, "start": null, "stop": null, "step": null})", {0, 1, 2, 3, 4, 5, 6}},
  };
  for (const Case& c : cases) {
    auto y = RunOp("subtensor", c.attrs, Iota({1, 7}));
    ASSERT_TRUE(y.ok()) << c.attrs << ": " << y.status();
    EXPECT_EQ(y->values(), c.want) << c.attrs;
  }
  // Lasagne's SliceLayer(indices=slice(0, 5), axis=2) on (1, 2, 6, 2): rows 0..4 of each channel.
  auto y = RunOp("subtensor", R"({"axis": 2, "start": 0, "stop": 5})", Iota({1, 2, 6, 2}));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{1, 2, 5, 2}));
  EXPECT_EQ(y->data()[10], 12.f);  // channel 1, row 0
  auto d = RunOp<double>("subtensor", R"({"axis": 1, "index": 0})", Tensor<double>({2, 1}, {1, 2}));
  ASSERT_TRUE(d.ok());
  EXPECT_THAT(d->values(), ElementsAre(1.0, 2.0));
}

TEST(SubtensorTest, Errors) {
  EXPECT_THAT(Message("subtensor", R"({"axis": 0, "index": 0})", {2, 3}),
              HasSubstr("subtensor \"layer\": attribute axis is 0, the batch axis, which is never "
                        "indexed"));
  EXPECT_THAT(Message("subtensor", R"({"axis": -2, "index": 0})", {2, 3}),
              HasSubstr("axis -2 is axis 0 of input (2, 3), the batch axis, which is never "
                        "indexed"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 2, "index": 0})", {2, 3}),
              HasSubstr("axis 2 is out of range for input (2, 3) of rank 2"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "index": 3})", {2, 3}),
              HasSubstr("index 3 is out of bounds for axis 1 with size 3 (input (2, 3))"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "index": -4})", {2, 3}),
              HasSubstr("index -4 is out of bounds"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "start": 5, "stop": 2})", {2, 7}),
              HasSubstr("slice [5:2:1] of axis 1 (size 7, input (2, 7)) is empty"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "start": 3})", {2, 3}),
              HasSubstr("slice [3::1] of axis 1"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "step": 0})", {2, 3}),
              HasSubstr("attribute step must not be 0"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "index": 0, "stop": 1})", {2, 3}),
              HasSubstr("attributes index and start/stop/step exclude each other"));
  EXPECT_THAT(Message("subtensor", R"({"index": 0})", {2, 3}),
              HasSubstr("attribute axis is required"));
  // Extreme integers are clamped or refused, never overflowed.
  EXPECT_THAT(Message("subtensor", R"({"axis": -9223372036854775808, "index": 0})", {2, 3}),
              HasSubstr("is out of range for input (2, 3)"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "index": -9223372036854775808})", {2, 3}),
              HasSubstr("is out of bounds for axis 1"));
  EXPECT_THAT(Message("subtensor", R"({"axis": 1, "step": -9223372036854775808})", {2, 3}),
              HasSubstr("attribute step -9223372036854775808 is out of range"));
}

}  // namespace
}  // namespace theano_serving
