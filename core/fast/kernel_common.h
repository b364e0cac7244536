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

// Below this much work a step runs on the calling thread alone: handing out shares costs more
// than it saves. LeNet at batch 1 on 2 threads splits its 5x5 20->50 conv (3.2 MFLOP) and its
// 800->500 dense layer (0.8 MFLOP, 1.6 MB of weights: each core streams half): 0.019 ms against
// 0.036 ms on one thread (AVX-512), where 4 MFLOP kept them whole. (Until the team's shares were
// claimed, a late worker held up every step, and this was 4 MFLOP: docs/PERFORMANCE.md.)
inline constexpr double kMinParallelFlops = 0.5e6;
inline constexpr int64_t kMinParallelFloats = 1 << 18;  // Data-movement steps: floats touched.

// How one kernel call runs. Passed by the executor to every kernel, so that a compiled graph's
// kernels all use its FastOptions (never a process-wide setting).
struct KernelEnv {
  Isa isa = Isa::kPortable;  // Must be one the CPU runs (FastGraph::Compile checks).
  int threads = 1;           // Intra-op threads (the calling thread's ThreadTeam).
  // Tests: split work over the threads however small it is (FastOptions::parallelize_any_size).
  bool parallelize_any_size = false;
  // Per share of a parallel call (ParallelRanges' range index, TeamMember()): `threads` scratch
  // buffers of scratch_floats floats each, from the run's workspace (Plan::share_scratch_floats).
  // A share's scratch belongs to whichever thread runs the share, so it is never shared, and it
  // exists before the first run: no kernel allocates, whichever thread claims its shares.
  float* const* scratch = nullptr;
  int64_t scratch_floats = 0;

  // The threads for a call doing `work` (FLOP, or floats touched): 1 below `minimum`.
  int ThreadsFor(double work, double minimum) const {
    return work < minimum && !parallelize_any_size ? 1 : threads;
  }
  // Inside a ParallelRanges body: the running share's scratch (at least `floats` floats: the plan
  // sized it for every step).
  float* Scratch(int64_t floats) const;
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

// Where a step writes an NHWC image of h x w pixels of c channels: plainly, or into a larger
// buffer read by the steps after it, so that no copy step moves it there. Two independent parts:
//  * rows and columns: plainly (padded_h == 0), or into the interior of a zero-bordered
//    (padded_h, padded_w) buffer at (top, left), the padded input of the conv that reads it (its
//    border is never written);
//  * channels: plainly (pixel_stride == 0), or as channels [channel_offset, channel_offset + c)
//    of pixels pixel_stride floats apart: the image's slice of a concatenation along the channels.
struct OutputFrame {
  int64_t top = 0, left = 0, padded_h = 0, padded_w = 0;
  int64_t channel_offset = 0, pixel_stride = 0;

  // The pixel index of (n, y, x).
  int64_t Pixel(int64_t n, int64_t y, int64_t x, int64_t h, int64_t w) const {
    return padded_h == 0 ? (n * h + y) * w + x : (n * padded_h + y + top) * padded_w + x + left;
  }
  // Floats from one pixel to the next, for an image of c channels.
  int64_t Stride(int64_t c) const { return pixel_stride > 0 ? pixel_stride : c; }
  // The float offset of channel 0 of pixel (n, y, x) of an image of c channels.
  int64_t Offset(int64_t n, int64_t y, int64_t x, int64_t h, int64_t w, int64_t c) const {
    return Pixel(n, y, x, h, w) * Stride(c) + channel_offset;
  }
  // Whether it writes exactly where a plain NHWC image would be.
  bool IsPlain() const { return padded_h == 0 && pixel_stride == 0; }
  // This frame's channels [offset, offset + ...) of an image of `total` channels: the slice of a
  // concatenation written into this frame.
  OutputFrame Slice(int64_t offset, int64_t total) const {
    OutputFrame f = *this;
    f.channel_offset += offset;
    f.pixel_stride = Stride(total);
    return f;
  }
};

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_KERNEL_COMMON_H_
