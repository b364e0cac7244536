#include "core/fast/kernel_common.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace theano_serving {
namespace fast {

void AlignedFree::operator()(float* p) const { std::free(p); }

AlignedArray AllocateZeroed(int64_t n) {
  const size_t bytes =
      (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  std::memset(p, 0, bytes);
  return AlignedArray(p);
}

}  // namespace fast
}  // namespace theano_serving
