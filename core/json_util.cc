#include "core/json_util.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"

namespace theano_serving {

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what) {
  // nlohmann reports syntax errors only by exception; they stop here.
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return ParseJson(*text, path);
}

}  // namespace theano_serving
