// The golden set of tests/golden/, found by scanning the folder (no hand-kept list of files).
#ifndef THEANO_SERVING_TESTS_TESTING_GOLDEN_TESTING_H_
#define THEANO_SERVING_TESTS_TESTING_GOLDEN_TESTING_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace theano_serving {
namespace testing_util {

// The file names (not paths) of tests/golden/*.json that hold a `cases` list, sorted: every file
// of Theano vectors, without crosscheck_summary.json. Safe outside a test (it records no
// failures), e.g. in INSTANTIATE_TEST_SUITE_P; callers check that it is not empty.
std::vector<std::string> GoldenFiles();

// The cases of one of them (ReadGoldenCases of tests/golden/<file>); a test failure and no cases
// if it cannot be read.
std::vector<nlohmann::json> LoadGoldenCases(const std::string& file);

}  // namespace testing_util
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_TESTING_GOLDEN_TESTING_H_
