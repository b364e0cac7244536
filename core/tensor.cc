#include "core/tensor.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace theano_serving {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

std::string BatchShapeToString(const Shape& item_shape) {
  if (item_shape.empty()) return "(N,)";
  return absl::StrCat("(N, ", absl::StrJoin(item_shape, ", "), ")");
}

}  // namespace theano_serving
