// Planar convolution ("pixels in lanes"), for stride-1 convolutions whose output channels fill
// 16-lane channel blocks poorly (LeNet's 20 and 50 use 62% and 78% of the lanes; its 24x24 and
// 8x8 images fill pixel vectors exactly). Input and output are NCHW. The input is first expanded
// into `kw` shifted copies (ShiftForPlanar: padding and the kernel column folded in), so that for
// every tap (c, ky, kx) the values under 16 consecutive output pixels (row-major over the whole
// out_h x out_w image) are 16 consecutive floats; the micro-kernel then broadcasts a tile of
// output channels' weights against vectors of output pixels. AVX-512 kernel, and a portable one
// for every other instruction set (tests force planar convs on any CPU).
#ifndef THEANO_SERVING_CORE_FAST_PLANAR_CONV_H_
#define THEANO_SERVING_CORE_FAST_PLANAR_CONV_H_

#include <cstdint>

#include "core/cpu.h"
#include "core/fast/kernel_common.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

struct PlanarWeights {
  int64_t out_channels = 0;
  int64_t k = 0;          // in_channels * kh * kw, ordered (c, ky, kx).
  int64_t tile = 0;       // Output channels per register tile (1..6).
  int64_t num_tiles = 0;  // ceil(out_channels / tile).
  AlignedArray data;      // [tile index][k][tile]; zero beyond out_channels.
  AlignedArray bias;      // [num_tiles * tile]; zero if none.
};
PlanarWeights PackPlanarWeights(const float* filters, int64_t out_channels, int64_t in_channels,
                                int64_t kh, int64_t kw, const float* bias);

// Whether the planar layout uses the vector lanes better than channel blocks (ChooseBlock) for a
// conv with `out_channels` over `pixels` output pixels per image, on `isa` (AVX-512 only: the
// planar kernel has no AVX2 copy).
bool PreferPlanar(Isa isa, int64_t out_channels, int64_t pixels);

// The shifted copies of an NCHW input (n, c, h, w) for a stride-1 conv with padding (top, left)
// and kernel columns kx * dil_w, kx < kw: s[n][c][kx][y][ox] = padded input (y, ox + kx * dil_w)
// for y < shifted_h, ox < out_w (zero in the padding).
struct ShiftGeometry {
  int64_t c = 0, h = 0, w = 0;
  int64_t top = 0, left = 0;
  int64_t kw = 1, dil_w = 1;
  int64_t shifted_h = 0;  // Padded height: every row a window reads.
  int64_t out_w = 0;
  int64_t Plane() const { return shifted_h * out_w; }  // One shifted copy.
  int64_t PerImage() const { return c * kw * Plane(); }
};
// The shifted copies a stride-1 conv of geometry g reads.
ShiftGeometry ShiftForConv(const ConvGeometry& g);
void ShiftForPlanar(const float* x, int64_t n, const ShiftGeometry& g, float* s,
                    const KernelEnv& env);
// The kw shifted copies of one input plane (h x w at src) into dst (for pools that write them).
void ShiftPlane(const float* src, const ShiftGeometry& g, Isa isa, float* dst);

struct PlanarConvTask {
  const float* shifted = nullptr;  // ShiftForPlanar's output.
  int64_t batch = 0;
  int64_t shifted_per_image = 0;
  int64_t pixels = 0;                // out_h * out_w.
  const int32_t* offsets = nullptr;  // Per k: the tap's offset in an image's shifted copies.
  const PlanarWeights* weights = nullptr;
  float* output = nullptr;  // NCHW (batch, out_channels, out_h, out_w).
  Activation activation = Activation::kOther;
};
void RunPlanarConv(const PlanarConvTask& task, const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_PLANAR_CONV_H_
