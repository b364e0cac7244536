#include "tests/testing/golden_testing.h"

#include <algorithm>
#include <filesystem>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tools/model_tool/golden.h"

namespace theano_serving {
namespace testing_util {
namespace {

std::string GoldenDir() { return std::string(TS_SOURCE_DIR) + "/tests/golden"; }

}  // namespace

std::vector<std::string> GoldenFiles() {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(GoldenDir(), error)) {
    if (entry.path().extension() != ".json") continue;
    // Files without a `cases` list (crosscheck_summary.json) are FailedPrecondition.
    if (absl::IsFailedPrecondition(ReadGoldenCases(entry.path().string()).status())) continue;
    files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<nlohmann::json> LoadGoldenCases(const std::string& file) {
  auto cases = ReadGoldenCases(GoldenDir() + "/" + file);
  EXPECT_TRUE(cases.ok()) << cases.status();
  return cases.ok() ? *std::move(cases) : std::vector<nlohmann::json>{};
}

}  // namespace testing_util
}  // namespace theano_serving
