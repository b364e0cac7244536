#include "core/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// IDX element type code for unsigned bytes, the only type MNIST-style datasets
// use.
constexpr int kTypeUbyte = 0x08;
// More dimensions than any IDX dataset has; bounds the header read.
constexpr int kMaxDims = 8;
// Upper bound on the element count a header may claim, so that the size
// arithmetic cannot overflow. Allocation follows the bytes actually read, never
// the claimed size.
constexpr int64_t kMaxElements = int64_t{1} << 40;

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

// gzopen/gzread read plain files transparently, so raw and gzip IDX files take
// the same path.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  absl::Status Open() {
    // gzopen does not report why it failed reliably; probe with fopen for a
    // precise status.
    FILE* probe = std::fopen(path_.c_str(), "rb");
    if (probe == nullptr) {
      const int error = errno;
      const std::string message = absl::StrCat("cannot open ", path_, ": ", std::strerror(error));
      return error == ENOENT ? absl::NotFoundError(message)
                             : absl::Status(absl::ErrnoToStatusCode(error), message);
    }
    std::fclose(probe);
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (file_ == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("cannot open ", path_, " with zlib"));
    }
    return absl::OkStatus();
  }

  // Appends up to `n` bytes to `out`; returns how many were read (fewer only at
  // end of file). A damaged or truncated gzip stream is an error.
  absl::StatusOr<size_t> Read(size_t n, std::vector<uint8_t>* out) {
    size_t total = 0;
    while (total < n) {
      const size_t chunk = std::min<size_t>(n - total, 1 << 20);
      const size_t old_size = out->size();
      out->resize(old_size + chunk);
      const int got = gzread(file_.get(), out->data() + old_size, static_cast<unsigned>(chunk));
      if (got < 0) {
        out->resize(old_size);
        int code = 0;
        const char* message = gzerror(file_.get(), &code);
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": damaged gzip data: ", message ? message : "unknown error"));
      }
      out->resize(old_size + static_cast<size_t>(got));
      total += static_cast<size_t>(got);
      if (static_cast<size_t>(got) < chunk) {
        // Short read: end of file, or a truncated gzip stream (zlib reports
        // Z_BUF_ERROR).
        int code = Z_OK;
        const char* message = gzerror(file_.get(), &code);
        if (code != Z_OK && code != Z_STREAM_END) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": damaged gzip data: ", message ? message : "unknown error"));
        }
        break;
      }
    }
    return total;
  }

 private:
  std::string path_;
  std::unique_ptr<gzFile_s, GzCloser> file_;
};

}  // namespace

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  Reader reader(path);
  RETURN_IF_ERROR(reader.Open());

  std::vector<uint8_t> header;
  ASSIGN_OR_RETURN(const size_t magic_size, reader.Read(4, &header));
  if (magic_size < 4 || header[0] != 0 || header[1] != 0) {
    std::string got;
    for (uint8_t b : header) absl::StrAppend(&got, absl::Hex(b, absl::kZeroPad2));
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an IDX file (the magic must be 00 00 <type> <ndims>, got ",
                     got.empty() ? "nothing" : got, ")"));
  }
  const int type = header[2];
  const int ndims = header[3];
  if (type != kTypeUbyte) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unsupported IDX element type 0x",
                                                   absl::Hex(type, absl::kZeroPad2),
                                                   " (only unsigned bytes, 0x08, are supported)"));
  }
  if (ndims < 1 || ndims > kMaxDims) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": IDX file has ", ndims, " dimensions (expected 1 to ", kMaxDims, ")"));
  }
  std::vector<uint8_t> dims_bytes;
  ASSIGN_OR_RETURN(const size_t dims_size,
                   reader.Read(4 * static_cast<size_t>(ndims), &dims_bytes));
  if (dims_size < 4 * static_cast<size_t>(ndims)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated IDX header: ", ndims, " dimensions need ", 4 * ndims,
                     " bytes after the magic, the file has ", dims_size));
  }
  IdxArray array;
  int64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* p = &dims_bytes[4 * static_cast<size_t>(i)];
    const int64_t dim = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    array.shape.push_back(dim);
    if (dim > 0 && count > kMaxElements / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": IDX shape ", ShapeToString(array.shape), "... is too large"));
    }
    count *= dim;
  }
  // Read one byte past the expected end to detect trailing data without reading
  // all of it.
  ASSIGN_OR_RETURN(const size_t data_size,
                   reader.Read(static_cast<size_t>(count) + 1, &array.data));
  if (data_size != static_cast<size_t>(count)) {
    const bool truncated = data_size < static_cast<size_t>(count);
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": IDX header ", ShapeToString(array.shape), " needs ", count, " bytes of data, ",
        truncated ? absl::StrCat("the file has only ", data_size)
                  : std::string("the file has more (trailing data)")));
  }
  return array;
}

}  // namespace theano_serving
