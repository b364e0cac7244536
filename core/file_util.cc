#include "core/file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace theano_serving {
namespace {

absl::Status ErrnoStatus(int error_number, absl::string_view action, absl::string_view path) {
  const std::string message = absl::StrCat(action, " ", path, ": ", std::strerror(error_number));
  return error_number == ENOENT ? absl::NotFoundError(message)
                                : absl::Status(absl::ErrnoToStatusCode(error_number), message);
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return ErrnoStatus(errno, "cannot open", path);
  std::string contents;
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) contents.append(buffer, n);
  if (std::ferror(file.get())) return ErrnoStatus(errno, "cannot read", path);
  return contents;
}

}  // namespace theano_serving
