// The fast engine's kernels. Activations are channels-last (NHWC: the C channels of one pixel
// are contiguous) so that one vector register holds 16 (AVX-512) or 8 (AVX2) output channels of
// one pixel; convolution and dense layers share one register-blocked micro-kernel (AVX-512: 6
// pixels x 64 output channels, 12 x 32, 12 x 16; AVX2: 6 x 16, 3 x 32) fed by per-pixel pointers
// into the input, so no im2col buffer is built. Stride-1 convs with few output channels can run
// planar instead (RunPlanarConv: NCHW, 16 output pixels per register). Every kernel has a portable
// copy for CPUs without AVX2+FMA (core/cpu.h).
//
// Results differ from the reference kernels (core/ops/) only by summation order and FMA rounding,
// except where noted as exact.
#ifndef THEANO_SERVING_CORE_FAST_KERNELS_H_
#define THEANO_SERVING_CORE_FAST_KERNELS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "core/lowering.h"
#include "core/shape.h"

namespace theano_serving {
namespace fast {

// Runs `body(begin, end)` over [0, n) split into one contiguous range per thread (the calling
// thread's ThreadTeam), or on the calling thread alone for threads <= 1. (No std::function:
// nothing is allocated per call.)
void ParallelRangesImpl(int64_t n, int threads, void (*body)(const void*, int64_t, int64_t),
                        const void* context);
// Inside a ParallelRanges body: which of the threads runs it (0: the calling thread).
int TeamMember();
template <typename F>
void ParallelRanges(int64_t n, int threads, const F& body) {
  ParallelRangesImpl(
      n, threads,
      [](const void* f, int64_t begin, int64_t end) { (*static_cast<const F*>(f))(begin, end); },
      &body);
}

// A float array aligned to 64 bytes.
struct AlignedFree {
  void operator()(float* p) const;
};
using AlignedArray = std::unique_ptr<float[], AlignedFree>;
// `n` floats, zero-filled.
AlignedArray AllocateZeroed(int64_t n);

// Conv or dense weights, packed once at load for the micro-kernel: for each group and each block
// of `block` output channels, [tap][input channel][block] floats (zero beyond the group's
// channels), plus the bias in the same blocks (zero if none).
struct PackedWeights {
  int64_t groups = 1;
  int64_t out_per_group = 0;
  int64_t in_per_group = 0;
  int64_t taps = 0;
  int64_t block = 16;      // 16 or 32 output channels per block.
  int64_t num_blocks = 0;  // Per group.
  AlignedArray data;
  AlignedArray bias;

  const float* BlockWeights(int64_t g, int64_t b) const {
    return data.get() + (g * num_blocks + b) * taps * in_per_group * block;
  }
  const float* BlockBias(int64_t g, int64_t b) const {
    return bias.get() + (g * num_blocks + b) * block;
  }
};

// The output-channel block width for a conv or dense layer on this CPU (16, 32 or 64); `few_rows`
// for a dense layer run on fewer than 6 rows, which needs wide blocks for enough independent
// accumulators. Pack with it; RunConv picks the matching register tile.
int64_t ChooseBlock(int64_t out_channels, bool few_rows);

// Packs correlation-order filters (O, C/G, kh, kw) (already flipped when filter_flip is true).
// `block` is ChooseBlock's; `bias` (O values) may be null.
PackedWeights PackConvWeights(const float* filters, int64_t out_channels, int64_t in_per_group,
                              int64_t kh, int64_t kw, int64_t groups, const float* bias,
                              int64_t block);

// Packs dense weights W (n_in, n_out) and b (n_out). If `nhwc_chw` is given (C, H, W) the input
// rows are the NHWC flattening of a (C, H, W) image rather than Theano's C-order flattening, and
// W's rows are permuted to match.
PackedWeights PackDenseWeights(const float* w, int64_t n_in, int64_t n_out, const float* bias,
                               int64_t block, const int64_t* nhwc_chw);

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

// A convolution (or a dense layer: 1x1 "image", taps 1) over an NHWC input that already contains
// its padding: the output pixel (n, oy, ox) reads the window whose origin is input pixel
// (n, oy * stride_h, ox * stride_w), at element offsets `tap_offsets` from it.
struct ConvTask {
  const float* input = nullptr;
  int64_t batch = 0;
  int64_t in_h = 0;  // Padded (the buffer's rows per image).
  int64_t in_w = 0;  // Padded (the buffer's pixels per row).
  // Where the conv's padded input starts in the buffer: (in_top, in_left) when the buffer is a
  // larger frame (a value written into another conv's padded input and read here too).
  int64_t in_top = 0, in_left = 0;
  int64_t in_c = 0;
  int64_t out_h = 0;
  int64_t out_w = 0;
  int64_t stride_h = 1;
  int64_t stride_w = 1;
  const int64_t* tap_offsets = nullptr;  // weights->taps entries, kernel row (ky) major.
  // If kh > 0: the input rows [rows_lo, rows_hi) hold the image and the others its zero padding;
  // the weights' taps are kh kernel rows dil_h input rows apart, and taps that fall on padding
  // rows are skipped (exact: they add zeros). If also kw_merged > 0, each tap is one kernel row
  // whose kw_merged columns (dilation 1) are merged into its channels, and the columns outside
  // the image's input columns [cols_lo, cols_hi) are skipped too.
  int64_t kh = 0, dil_h = 1, rows_lo = 0, rows_hi = 0;
  int64_t kw_merged = 0, cols_lo = 0, cols_hi = 0;
  const PackedWeights* weights = nullptr;
  float* output = nullptr;  // NHWC (batch, out_h, out_w, groups * out_per_group), in out_frame.
  OutputFrame out_frame;
  // If set, NHWC like `output` (in res_frame, not overlapping it): added after the bias, before
  // the activation (a residual sum fused into the conv; bias then residual, as Theano's two
  // additions).
  const float* residual = nullptr;
  OutputFrame res_frame;
  Activation activation = Activation::kOther;  // kOther = none.
};
void RunConv(const ConvTask& task, int threads);

// Planar convolution ("pixels in lanes"), for stride-1 convolutions whose output channels fill
// 16-lane channel blocks poorly (LeNet's 20 and 50 use 62% and 78% of the lanes; its 24x24 and
// 8x8 images fill pixel vectors exactly). Input and output are NCHW. The input is first expanded
// into `kw` shifted copies (ShiftForPlanar: padding and the kernel column folded in), so that for
// every tap (c, ky, kx) the values under 16 consecutive output pixels (row-major over the whole
// out_h x out_w image) are 16 consecutive floats; the micro-kernel then broadcasts a tile of
// output channels' weights against vectors of output pixels.
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
// conv with `out_channels` over `pixels` output pixels per image, on this CPU.
bool PreferPlanar(int64_t out_channels, int64_t pixels);

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
void ShiftForPlanar(const float* x, int64_t n, const ShiftGeometry& g, float* s, int threads);

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
void RunPlanarConv(const PlanarConvTask& task, int threads);

// Tests: the reduction slice size in bytes of weights (0 = the default, 3/4 of the L2 cache); a
// small value makes every tile run in many slices.
void SetReductionSliceBytesForTesting(int64_t bytes);

// Tests: split work over the intra-op threads however small it is (normally steps under ~4 MFLOP
// or 256 Ki floats run on the calling thread alone).
void SetParallelizeAnySizeForTesting(bool on);

// Tests: 1 = every eligible conv (stride 1, one group) runs planar, on any CPU; -1 = none does;
// 0 = PreferPlanar decides (the default).
void SetPlanarConvForTesting(int mode);

// pool_2d over an NHWC input (batch, h, w, c) into (batch, out_h, out_w, c) in `frame`, then
// `activation`. Bit-identical to the reference pool (same window rule, order of comparisons and
// sums).
void RunPool(const float* input, int64_t batch, int64_t h, int64_t w, int64_t c,
             const PoolConfig& config, int64_t out_h, int64_t out_w, const OutputFrame& frame,
             float* output, Activation activation, int threads);

// pool_2d over NCHW planes (batch * channels planes of h x w into out_h x out_w), then
// `activation`; bit-identical to the reference pool, like RunPool. Prepared once per layer (each
// output row's window and divisor; the columns whose window is never clipped run 16 at a time).
struct PlanarPool {
  int64_t h = 0, w = 0, out_h = 0, out_w = 0;
  PoolConfig config;
  std::vector<PoolWindow> wy;  // Per output row.
  std::vector<float> divisor;  // Per output row, for the unclipped columns.
  int64_t x_lo = 0, x_hi = 0;  // Unclipped columns (none for column strides above 2).
  bool all_vector = false;     // Every output column of every row unclipped.
};
PlanarPool PreparePlanarPool(int64_t h, int64_t w, const PoolConfig& config, int64_t out_h,
                             int64_t out_w);
// With `shift_into` (whose c, h and w are the pool's output), the output is written as the
// shifted copies ShiftForPlanar would make of it, for a planar conv that reads it alone.
void RunPoolPlanar(const PlanarPool& pool, const float* input, int64_t planes, float* output,
                   Activation activation, const ShiftGeometry* shift_into, int threads);

// Element-wise activation over n floats (x == y allowed). kOther does nothing.
void ApplyActivation(Activation activation, const float* x, float* y, int64_t n);

// y[p, c] = x[p, c] + bias[c] for p < pixels (x == y allowed). Exact.
void AddChannelBias(const float* x, const float* bias, int64_t pixels, int64_t channels, float* y,
                    int threads);

// y = x0 + x1 + ... (left to right, as the reference), then `activation`. Exact without one.
void AddArrays(absl::Span<const float* const> inputs, int64_t n, float* y, Activation activation,
               int threads);

// (N, C, H, W) <-> (N, H, W, C) (NchwToNhwc's output in `frame`). Exact.
// The data-movement helpers below split their work over `threads` OpenMP threads.
void NchwToNhwc(const float* x, int64_t n, int64_t c, int64_t h, int64_t w,
                const OutputFrame& frame, float* y, int threads);
void NhwcToNchw(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* y, int threads);

// Copies an NHWC (n, h, w, c) image into `frame` (a zero-bordered buffer whose border is already
// zero: it is never written).
void CopyIntoPadded(const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                    const OutputFrame& frame, float* y, int threads);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_KERNELS_H_
