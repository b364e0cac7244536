// JSON parsing and JSON file reading with absl::Status errors (nlohmann/json underneath).
#ifndef THEANO_SERVING_CORE_JSON_UTIL_H_
#define THEANO_SERVING_CORE_JSON_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace theano_serving {

// Parses JSON text; InvalidArgument naming `what` and nlohmann's position on a syntax error.
absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what);

// ReadFileToString (core/file_util.h) + ParseJson(path).
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_JSON_UTIL_H_
