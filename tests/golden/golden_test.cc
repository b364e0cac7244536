// Every case of the Theano 1.0.5 golden set (copied from the shared set into tests/golden/, every
// file found by scanning the folder) run through both engines: outputs within the README's
// tolerance, every rejected combination refused, and bit for bit where the rules below say.
#include "tools/model_tool/golden.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/golden_testing.h"

namespace theano_serving {
namespace {

using testing_util::GoldenFiles;
using testing_util::LoadGoldenCases;

TEST(GoldenSetTest, FilesAreFoundByScanningTheFolder) {
  // Every file of Theano vectors in tests/golden/ runs below (crosscheck_summary.json is no file
  // of cases); cli_verify_golden_set globs the same folder.
  EXPECT_THAT(GoldenFiles(), testing::IsSupersetOf({"conv2d.json", "network.json"}));
  EXPECT_THAT(GoldenFiles(), testing::Not(testing::Contains("crosscheck_summary.json")));
}

class GoldenFileTest : public testing::TestWithParam<std::string> {};

TEST_P(GoldenFileTest, EveryCaseMatchesTheanoAtTheReadmeTolerance) {
  std::vector<nlohmann::json> cases = LoadGoldenCases(GetParam());
  ASSERT_FALSE(cases.empty());
  int errors_refused = 0;
  for (const nlohmann::json& c : cases) {
    GoldenResult r = RunGoldenCase(c, std::nullopt);
    EXPECT_TRUE(r.passed) << r.name << ": " << r.message;
    if (r.expects_error && r.passed) ++errors_refused;
  }
  int error_cases = 0;
  for (const nlohmann::json& c : cases) error_cases += c.contains("error");
  EXPECT_EQ(errors_refused, error_cases);
}

INSTANTIATE_TEST_SUITE_P(Theano105, GoldenFileTest, testing::ValuesIn(GoldenFiles()),
                         [](const testing::TestParamInfo<std::string>& param) {
                           return param.param.substr(0, param.param.find('.'));
                         });

// True if the case is a convolution (conv2d, conv2d_legacy, signal_conv2d: Theano's convolution
// ops are all named conv2d) or a network with one.
bool HasConvolution(const GoldenResult& r, const nlohmann::json& golden_case) {
  auto is_conv = [](const std::string& op) { return op.find("conv2d") != std::string::npos; };
  if (is_conv(r.op)) return true;
  for (const nlohmann::json& layer : golden_case.value("layers", nlohmann::json::array())) {
    if (is_conv(layer.value("op", ""))) return true;
  }
  return false;
}

// True if Theano's own C and Python paths computed this case's outputs bit for bit alike (the
// case's `crosscheck`, tests/golden/README.md).
bool TheanoPathsAgreeExactly(const nlohmann::json& golden_case) {
  const nlohmann::json crosscheck = golden_case.value("crosscheck", nlohmann::json::object());
  return crosscheck.contains("max_abs") && crosscheck.at("max_abs") == 0;
}

// Bit for bit, by rules rather than lists of ops:
//  * The reference engine reproduces every case that has no convolution exactly, float32 and
//    float64: it evaluates each op in Theano's own order, with float libm overloads and explicit
//    std::fma where Theano's build fused (docs/THEANO_SEMANTICS.md). Convolutions sum through
//    CorrMM's BLAS gemm (ConvOp's loops) in an order it does not reproduce and are held to the
//    README's tolerance above.
//  * The fast engine changes the summation order and vectorises (PERFORMANCE.md), so it is
//    exact only where the result does not depend on how it is computed: the cases on which
//    Theano's C and Python paths already agree bit for bit. These include all of the golden
//    README's exact ops (max pooling, relu(alpha=0), abs, flatten, bias_add).
TEST(GoldenBitExactTest, ReferenceExactWithoutConvolutionFastExactWhereTheanoPathsAgree) {
  int checked = 0;
  int fast_checked = 0;
  for (const std::string& file : GoldenFiles()) {
    for (const nlohmann::json& c : LoadGoldenCases(file)) {
      if (c.contains("error")) continue;
      GoldenResult probe = RunGoldenCase(c, std::nullopt, 1e-5, /*run_fast=*/false);
      if (HasConvolution(probe, c)) continue;
      // The fast engine runs where it can plan the graph (not e.g. flatten(ndim=1), which drops
      // the batch axis); RunGoldenCase only plans float32 graphs.
      const bool fast = TheanoPathsAgreeExactly(c);
      GoldenResult r = RunGoldenCase(c, Tolerance{0, 0}, 1e-5, fast);
      EXPECT_TRUE(r.passed) << r.name << (fast ? " (reference and fast engine)" : "") << ": "
                            << r.message;
      ++checked;
      fast_checked += r.fast_checked ? 1 : 0;
    }
  }
  // Sanity bounds on what the rules select (so that a change to the set or to the runner cannot
  // make them select nothing): every pool, elemwise, softmax, batch norm, dense and flatten case
  // for the reference engine; the order-independent ones for the fast engine.
  EXPECT_GT(checked, 180);
  EXPECT_GT(fast_checked, 100);
}

// How close we are to Theano: as close as Theano's own C and python paths (README: the float64
// numpy reference passes atol 1e-6 at rtol 1e-5 on every case).
TEST(GoldenTightToleranceTest, Float32CasesPassAtAtol1e6Rtol1e5) {
  for (const std::string& file : GoldenFiles()) {
    for (const nlohmann::json& c : LoadGoldenCases(file)) {
      GoldenResult r = RunGoldenCase(c, std::nullopt);
      if (r.dtype != "float32" || r.expects_error) continue;
      GoldenResult tight = RunGoldenCase(c, Tolerance{1e-6, 1e-5});
      EXPECT_TRUE(tight.passed) << tight.name << ": " << tight.message;
    }
  }
}

// A result that differs from Theano must fail: the runner is not allowed to pass everything.
TEST(GoldenRunnerTest, TamperedOutputFails) {
  std::vector<nlohmann::json> cases = LoadGoldenCases("dense_flatten.json");
  ASSERT_FALSE(cases.empty());
  nlohmann::json c = cases[0];
  ASSERT_FALSE(c.contains("error"));
  auto& data = c["outputs"][0]["data"];
  data[0] = data[0].get<double>() + 1e-3;
  GoldenResult r = RunGoldenCase(c, std::nullopt);
  EXPECT_FALSE(r.passed);
  EXPECT_THAT(r.message, testing::HasSubstr("worst element [0]"));
}

TEST(GoldenRunnerTest, ErrorCaseThatSucceedsFails) {
  std::vector<nlohmann::json> cases = LoadGoldenCases("dense_flatten.json");
  nlohmann::json c = cases[0];
  c["error"] = "ValueError: pretend Theano refused this";
  GoldenResult r = RunGoldenCase(c, std::nullopt);
  EXPECT_FALSE(r.passed);
  EXPECT_THAT(r.message, testing::HasSubstr("pretend Theano refused"));
}

}  // namespace
}  // namespace theano_serving
