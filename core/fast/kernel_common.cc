#include "core/fast/kernel_common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/fast/thread_team.h"

namespace theano_serving {
namespace fast {

void AlignedFree::operator()(float* p) const { std::free(p); }

float* KernelEnv::Scratch(int64_t floats) const {
  if (scratch == nullptr || floats > scratch_floats) {  // A planning bug, never input data.
    std::fprintf(stderr, "fast engine: share scratch of %lld floats, %lld needed\n",
                 static_cast<long long>(scratch_floats), static_cast<long long>(floats));
    std::abort();
  }
  return scratch[TeamMember()];
}

AlignedArray AllocateZeroed(int64_t n) {
  const size_t bytes =
      (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  std::memset(p, 0, bytes);
  return AlignedArray(p);
}

}  // namespace fast
}  // namespace theano_serving
