// Theano's output-size arithmetic, in one place (conv2d, conv2d_legacy,
// signal_conv2d, pool_2d). See docs/THEANO_SEMANTICS.md. All functions are pure
// and thread-safe. They do not validate: results <= 0 mean "no valid output"
// and the calling op turns them into an error (or, for pool_2d with
// ignore_border=True, into an empty axis).
#ifndef THEANO_SERVING_CORE_SHAPE_H_
#define THEANO_SERVING_CORE_SHAPE_H_

#include <cstdint>

namespace theano_serving {

// Python's floor division `a // b` for b > 0 (C++ `/` truncates toward zero,
// which turns an impossible size such as (5 - 6) // 2 + 1 = 0 into 1).
int64_t FloorDiv(int64_t a, int64_t b);

// Extent of a kernel of `k` taps spread `dilation` apart: (k - 1) * dilation
// + 1.
int64_t DilatedKernelSize(int64_t k, int64_t dilation);

// How theano.tensor.nnet.conv2d pads one spatial axis.
enum class BorderMode {
  kValid,     // no padding
  kFull,      // dilated_k - 1 on both sides
  kHalf,      // dilated_k // 2 on both sides (one larger than the input for an even
              // kernel)
  kExplicit,  // the given (lo, hi) pair
};

struct AxisPadding {
  int64_t lo = 0;
  int64_t hi = 0;
};

// The padding Theano applies on one axis for `mode`; `explicit_pad` is used
// only for kExplicit.
AxisPadding ConvPadding(BorderMode mode, int64_t k, int64_t dilation, AxisPadding explicit_pad);

// CorrMM output size of one axis: (in + pad.lo + pad.hi - dilated_k) // stride
// + 1 (floor division). Theano raises "CorrMM: impossible output shape" when
// this is <= 0.
int64_t ConvOutputSize(int64_t in, int64_t k, AxisPadding pad, int64_t stride, int64_t dilation);

// The un-subsampled output size of the legacy ConvOp (also behind
// signal.conv.conv2d): in - k + 1 for "valid", in + k - 1 for "full". Theano
// raises "Output dimensions are not valid" when this is <= 0.
int64_t LegacyConvFullSize(int64_t in, int64_t k, bool full);

// Legacy ConvOp output size with subsampling: ceil(LegacyConvFullSize / stride)
// — ConvOp keeps every stride-th element of the valid/full result. Returns
// LegacyConvFullSize itself when that is <= 0. (Equal to ConvOutputSize with
// valid/full padding whenever positive.)
int64_t LegacyConvOutputSize(int64_t in, int64_t k, bool full, int64_t stride);

// pool_2d output size of one axis (Pool.out_shape):
//   ignore_border:  max(0, (in + 2*pad - ws) // stride + 1)
//   !ignore_border: (in - 1) // stride + 1                        if stride >=
//   ws
//                   max(0, (in - 1 - ws + stride) // stride) + 1  otherwise
// where the last window may be partial. `pad` must be 0 unless ignore_border.
int64_t PoolOutputSize(int64_t in, int64_t ws, int64_t stride, int64_t pad, bool ignore_border);

// pool_2d's modes.
enum class PoolMode { kMax, kSum, kAverageIncPad, kAverageExcPad };

// One pooling window along one axis, in image coordinates, clipped to the real image: Theano's C
// code never reads padding (max and sum skip it; only the average_inc_pad divisor counts it).
struct PoolWindow {
  int64_t begin;
  int64_t end;
};

// The window of output `index`: [index*stride - pad, index*stride - pad + ws) clipped to [0, in).
PoolWindow ClippedPoolWindow(int64_t index, int64_t in, int64_t ws, int64_t stride, int64_t pad);

// What an average divides a window's sum by: ws_h * ws_w for average_inc_pad with
// ignore_border=True, otherwise (average_exc_pad, and average_inc_pad with ignore_border=False,
// where Theano's C code agrees) the clipped window's size. 1 for max and sum.
int64_t PoolDivisor(PoolMode mode, bool ignore_border, int64_t ws_h, int64_t ws_w, PoolWindow wy,
                    PoolWindow wx);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_SHAPE_H_
