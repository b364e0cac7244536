// Reading IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed
// (as Debian's dataset-fashion-mnist ships them). Thread-safe.
#ifndef THEANO_SERVING_CORE_IDX_H_
#define THEANO_SERVING_CORE_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace theano_serving {

struct IdxArray {
  Shape shape;                // e.g. (10000, 28, 28) for images, (10000,) for labels.
  std::vector<uint8_t> data;  // Unsigned bytes (type code 0x08), C order.
};

// Reads an IDX file of unsigned bytes; gzip is detected from the magic bytes.
// NotFound if missing; InvalidArgument for a bad magic, an unsupported element
// type or a truncated file.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_IDX_H_
