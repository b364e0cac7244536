// LayerSpec descriptions, AttrReader (Theano names, defaults, unknown
// attributes) and the factory.
#include "core/layer.h"

#include <algorithm>

#include "core/layer_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;

LayerSpec Spec(const char* attrs_json, std::string name = "") {
  LayerSpec spec;
  spec.op = "pool_2d";
  spec.name = std::move(name);
  spec.attrs = nlohmann::json::parse(attrs_json);
  return spec;
}

TEST(LayerSpecTest, DescribeUsesNameThenIndex) {
  LayerSpec s = Spec("{}");
  EXPECT_EQ(s.Describe(), "pool_2d");
  s.index = 3;
  EXPECT_EQ(s.Describe(), "layer 3 (pool_2d)");
  s.name = "pool1";
  EXPECT_EQ(s.Describe(), "pool_2d \"pool1\"");
}

TEST(AttrReaderTest, DefaultsApplyToAbsentAndNullKeys) {
  LayerSpec s = Spec(R"({"stride": null})");
  AttrReader r(s);
  auto stride = r.IntPair("stride", std::array<int64_t, 2>{2, 2});
  ASSERT_TRUE(stride.ok());
  EXPECT_EQ((*stride)[0], 2);
  auto ib = r.Bool("ignore_border", false);
  ASSERT_TRUE(ib.ok());
  EXPECT_FALSE(*ib);
  EXPECT_TRUE(r.Finish().ok());
}

TEST(AttrReaderTest, WrongTypesNameAttributeAndValue) {
  LayerSpec s = Spec(R"({"ws": [2, "x"], "mode": 3, "ignore_border": 1})", "p1");
  AttrReader r(s);
  EXPECT_THAT(r.IntPair("ws", std::nullopt).status().message(),
              HasSubstr("pool_2d \"p1\": attribute ws must be a pair of integers [a, b], got "
                        "[2,\"x\"]"));
  EXPECT_THAT(r.String("mode", "max").status().message(),
              HasSubstr("attribute mode must be a string, got 3"));
  EXPECT_THAT(r.Bool("ignore_border", false).status().message(),
              HasSubstr("attribute ignore_border must be true or false, got 1"));
}

TEST(AttrReaderTest, RequiredAttributeMissing) {
  LayerSpec s = Spec("{}");
  AttrReader r(s);
  EXPECT_THAT(r.IntPair("ws", std::nullopt).status().message(),
              HasSubstr("attribute ws is required"));
}

TEST(AttrReaderTest, FinishNamesUnknownAttributes) {
  LayerSpec s = Spec(R"({"ws": [2, 2], "window": 3, "strides": [1, 1]})");
  AttrReader r(s);
  ASSERT_TRUE(r.IntPair("ws", std::nullopt).ok());
  absl::Status st = r.Finish();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("unknown attributes strides, window"));
}

TEST(AttrReaderTest, IntegralFloatIsAnInteger) {
  LayerSpec s = Spec(R"({"axis": 1.0, "bad": 1.5})");
  AttrReader r(s);
  EXPECT_EQ(*r.Int("axis", 0), 1);
  EXPECT_THAT(r.Int("bad", 0).status().message(), HasSubstr("must be an integer, got 1.5"));
}

TEST(ExpectParamCountTest, NamesTheExpectedParameters) {
  LayerSpec s;
  s.op = "dense";
  s.name = "fc";
  EXPECT_TRUE(ExpectParamCount(s, 2, {"W", "b"}).ok());
  EXPECT_THAT(ExpectParamCount(s, 1, {"W", "b"}).message(),
              HasSubstr("dense \"fc\": expects 2 parameters (W, b), got 1"));
}

TEST(LayerFactoryTest, UnknownOpListsKnownOps) {
  LayerSpec s;
  s.op = "conv3d";
  auto layer = CreateLayer<float>(s, {});
  EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(layer.status().message(), HasSubstr("unknown op \"conv3d\""));
  EXPECT_THAT(layer.status().message(), HasSubstr("conv2d"));
}

// Which ops exist is the factory's alone (each needs a THEANO_SEMANTICS.md rule and Theano data:
// tests/golden/op_coverage_test.cc); here only the list's form.
TEST(LayerFactoryTest, KnownOpsAreSortedAndUnique) {
  EXPECT_FALSE(KnownOps().empty());
  EXPECT_TRUE(std::is_sorted(KnownOps().begin(), KnownOps().end()));
  EXPECT_EQ(std::adjacent_find(KnownOps().begin(), KnownOps().end()), KnownOps().end());
  for (const std::string& op : KnownOps()) {
    LayerSpec spec;
    spec.op = op;
    // Known: whatever else is wrong with an empty spec, the op is not "unknown".
    EXPECT_THAT(std::string(CreateLayer<float>(spec, {}).status().message()),
                testing::Not(HasSubstr("unknown op")))
        << op;
  }
}

}  // namespace
}  // namespace theano_serving

namespace theano_serving {
namespace {

// Found by fuzz_model_json in CI: an integer attribute too large for int64 arrives from the JSON
// parser as a double (3.3e27); converting it was undefined behaviour. It is refused instead.
TEST(AttrReaderTest, IntegerBeyondInt64IsRefusedNotConverted) {
  LayerSpec spec;
  spec.op = "bias_add";
  spec.attrs = nlohmann::json::parse(R"({"axis": 3333333333333333333333333333})");
  AttrReader reader(spec);
  absl::StatusOr<int64_t> axis = reader.Int("axis", 1);
  EXPECT_EQ(axis.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(axis.status().message().find("attribute axis must be an integer"), std::string::npos)
      << axis.status();
  spec.attrs = nlohmann::json::parse(R"({"axis": 2.0})");
  AttrReader exact(spec);
  EXPECT_EQ(exact.Int("axis", 1).value_or(-1), 2);
}

}  // namespace
}  // namespace theano_serving
