// What every kernel family of the fast engine shares: how one kernel call runs (KernelEnv: the
// plan's instruction set and threads), when a call is worth splitting over threads, 64-byte
// aligned float arrays, and where a step writes an NHWC image (OutputFrame).
#ifndef THEANO_SERVING_CORE_FAST_KERNEL_COMMON_H_
#define THEANO_SERVING_CORE_FAST_KERNEL_COMMON_H_

#include <cstdint>
#include <memory>

#include "core/cpu.h"

namespace theano_serving {
namespace fast {

// Below this much work a step runs on the calling thread alone: waking a thread team costs more
// than it saves (measured on LeNet batch 1: 2 threads took 0.169 ms against 0.045 ms on one).
inline constexpr double kMinParallelFlops = 4e6;
inline constexpr int64_t kMinParallelFloats = 1 << 18;  // Data-movement steps: floats touched.

// How one kernel call runs. Passed by the executor to every kernel, so that a compiled graph's
// kernels all use its FastOptions (never a process-wide setting).
struct KernelEnv {
  Isa isa = Isa::kPortable;  // Must be one the CPU runs (FastGraph::Compile checks).
  int threads = 1;           // Intra-op threads (the calling thread's ThreadTeam).
  // Tests: split work over the threads however small it is (FastOptions::parallelize_any_size).
  bool parallelize_any_size = false;

  // The threads for a call doing `work` (FLOP, or floats touched): 1 below `minimum`.
  int ThreadsFor(double work, double minimum) const {
    return work < minimum && !parallelize_any_size ? 1 : threads;
  }
  KernelEnv WithThreads(int t) const {
    KernelEnv env = *this;
    env.threads = t;
    return env;
  }
};

// A float array aligned to 64 bytes.
struct AlignedFree {
  void operator()(float* p) const;
};
using AlignedArray = std::unique_ptr<float[], AlignedFree>;
// `n` floats, zero-filled.
AlignedArray AllocateZeroed(int64_t n);

// Where a step writes an NHWC image of h x w pixels: plainly (padded_h == 0), or into the interior
// of a zero-bordered (padded_h, padded_w) buffer at (top, left): the padded input of the conv that
// reads it, so that no separate pad step copies it there. The border is never written.
struct OutputFrame {
  int64_t top = 0, left = 0, padded_h = 0, padded_w = 0;
  // The pixel index of (n, y, x).
  int64_t Pixel(int64_t n, int64_t y, int64_t x, int64_t h, int64_t w) const {
    return padded_h == 0 ? (n * h + y) * w + x : (n * padded_h + y + top) * padded_w + x + left;
  }
};

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_KERNEL_COMMON_H_
