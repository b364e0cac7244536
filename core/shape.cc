#include "core/shape.h"

#include <algorithm>

namespace theano_serving {

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t DilatedKernelSize(int64_t k, int64_t dilation) { return (k - 1) * dilation + 1; }

AxisPadding ConvPadding(BorderMode mode, int64_t k, int64_t dilation, AxisPadding explicit_pad) {
  const int64_t dk = DilatedKernelSize(k, dilation);
  switch (mode) {
    case BorderMode::kValid:
      return {0, 0};
    case BorderMode::kFull:
      return {dk - 1, dk - 1};
    case BorderMode::kHalf:
      return {dk / 2, dk / 2};
    case BorderMode::kExplicit:
      return explicit_pad;
  }
  return {0, 0};
}

int64_t ConvOutputSize(int64_t in, int64_t k, AxisPadding pad, int64_t stride, int64_t dilation) {
  return FloorDiv(in + pad.lo + pad.hi - DilatedKernelSize(k, dilation), stride) + 1;
}

int64_t LegacyConvFullSize(int64_t in, int64_t k, bool full) {
  return full ? in + k - 1 : in - k + 1;
}

int64_t LegacyConvOutputSize(int64_t in, int64_t k, bool full, int64_t stride) {
  const int64_t size = LegacyConvFullSize(in, k, full);
  if (size <= 0) return size;
  return (size - 1) / stride + 1;  // ceil(size / stride)
}

int64_t PoolOutputSize(int64_t in, int64_t ws, int64_t stride, int64_t pad, bool ignore_border) {
  if (ignore_border) return std::max<int64_t>(0, FloorDiv(in + 2 * pad - ws, stride) + 1);
  if (stride >= ws) return FloorDiv(in - 1, stride) + 1;
  return std::max<int64_t>(0, FloorDiv(in - 1 - ws + stride, stride)) + 1;
}

PoolWindow ClippedPoolWindow(int64_t index, int64_t in, int64_t ws, int64_t stride, int64_t pad) {
  const int64_t begin = index * stride - pad;  // In padded coordinates: [index*stride, +ws).
  const int64_t end = begin + ws;
  return {std::max<int64_t>(begin, 0), std::min(end, in)};
}

int64_t PoolDivisor(PoolMode mode, bool ignore_border, int64_t ws_h, int64_t ws_w, PoolWindow wy,
                    PoolWindow wx) {
  if (mode == PoolMode::kMax || mode == PoolMode::kSum) return 1;
  if (mode == PoolMode::kAverageIncPad && ignore_border) return ws_h * ws_w;
  return (wy.end - wy.begin) * (wx.end - wx.begin);
}

}  // namespace theano_serving
