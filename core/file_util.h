// Whole-file reading with absl::Status errors: the one file reader of the engine, the server, the
// tools, the CLI and the tests.
#ifndef THEANO_SERVING_CORE_FILE_UTIL_H_
#define THEANO_SERVING_CORE_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace theano_serving {

// Reads the whole file at `path` as bytes. Errors carry the errno's code and name the path:
// NotFound "cannot open <path>: No such file or directory", PermissionDenied for EACCES,
// "cannot read <path>: Is a directory" for a directory, ... Thread-safe.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FILE_UTIL_H_
