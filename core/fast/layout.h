// Layout changes of the fast engine: NCHW <-> NHWC at the plan's edges and around reference
// steps, copies into a conv's zero-bordered input and into a concatenation, slices. All exact;
// split over the env's threads.
#ifndef THEANO_SERVING_CORE_FAST_LAYOUT_H_
#define THEANO_SERVING_CORE_FAST_LAYOUT_H_

#include <cstdint>

#include "core/fast/kernel_common.h"

namespace theano_serving {
namespace fast {

// (N, C, H, W) -> (N, H, W, C), the output in `frame`.
void NchwToNhwc(const float* x, int64_t n, int64_t c, int64_t h, int64_t w,
                const OutputFrame& frame, float* y, const KernelEnv& env);
// (N, H, W, C) -> (N, C, H, W).
void NhwcToNchw(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* y,
                const KernelEnv& env);

// Copies an NHWC (n, h, w, c) image into `frame`: the interior of a zero-bordered buffer (whose
// border is never written) and/or a channel slice of a concatenation.
void CopyIntoPadded(const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                    const OutputFrame& frame, float* y, const KernelEnv& env);

// One input of a C-order concatenation: x holds n items of `rows` rows of `blocks` blocks of
// `block` floats; y holds n items of `rows` rows of `total` blocks, x's at block `offset`.
void CopyIntoRows(const float* x, int64_t n, int64_t rows, int64_t blocks, int64_t block,
                  int64_t total, int64_t offset, float* y, const KernelEnv& env);

// A slice along one axis: per item of x, (outer, n, inner) floats; per item of y, (outer, length,
// inner): rows start, start + step, ... of each outer block (step may be negative).
void RunSlice(const float* x, int64_t items, int64_t outer, int64_t n, int64_t inner, int64_t start,
              int64_t step, int64_t length, float* y, const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_LAYOUT_H_
