// Channels-last convolution and dense layers: one register-blocked micro-kernel for both
// (AVX-512: 6 pixels x 64 output channels, 12 x 32, 12 x 16; AVX2: 6 x 16, 3 x 32; portable C++
// otherwise; conv_{avx512,avx2,portable}.cc), fed by per-pixel pointers into the NHWC input, so no
// im2col buffer is built. Weights are packed once at load (PackConvWeights, PackDenseWeights);
// RunConv cuts the work into (pixel chunk x channel block) items over the threads.
//
// Results differ from the reference kernels (core/ops/) only by summation order and FMA rounding.
#ifndef THEANO_SERVING_CORE_FAST_CONV_H_
#define THEANO_SERVING_CORE_FAST_CONV_H_

#include <cstdint>

#include "core/cpu.h"
#include "core/fast/kernel_common.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

// Conv or dense weights, packed once at load for the micro-kernel: for each group and each block
// of `block` output channels, [tap][input channel][block] floats (zero beyond the group's
// channels), plus the bias in the same blocks (zero if none) and, for a batch norm in the
// epilogue, its parameters as [gamma, beta, mean, inv_std][block] per block.
struct PackedWeights {
  int64_t groups = 1;
  int64_t out_per_group = 0;
  int64_t in_per_group = 0;
  int64_t taps = 0;
  int64_t block = 16;      // 16, 32 or 64 output channels per block.
  int64_t num_blocks = 0;  // Per group.
  AlignedArray data;
  AlignedArray bias;
  AlignedArray norm;  // Empty: no batch norm.

  const float* BlockWeights(int64_t g, int64_t b) const {
    return data.get() + (g * num_blocks + b) * taps * in_per_group * block;
  }
  const float* BlockBias(int64_t g, int64_t b) const {
    return bias.get() + (g * num_blocks + b) * block;
  }
  const float* BlockNorm(int64_t g, int64_t b) const {
    return norm == nullptr ? nullptr : norm.get() + (g * num_blocks + b) * 4 * block;
  }
  int64_t Bytes() const {
    return groups * num_blocks * taps * in_per_group * block * static_cast<int64_t>(sizeof(float));
  }
};

// The output-channel block width for a conv or dense layer on `isa` (16, 32 or 64); `few_rows`
// for a dense layer run on fewer than 6 rows, which needs wide blocks for enough independent
// accumulators. Pack with it; RunConv picks the matching register tile.
int64_t ChooseBlock(Isa isa, int64_t out_channels, bool few_rows);

// Packs correlation-order filters (O, C/G, kh, kw) (already flipped when filter_flip is true).
// `block` is ChooseBlock's; `bias` (O values) may be null, and so may `norm`, a batch norm of the
// O output channels that the epilogue applies after the bias. Null `filters`: the bias and norm
// alone, for a conv whose filters are packed otherwise (Winograd); `data` stays empty.
PackedWeights PackConvWeights(const float* filters, int64_t out_channels, int64_t in_per_group,
                              int64_t kh, int64_t kw, int64_t groups, const float* bias,
                              int64_t block, const BatchNormParams<float>* norm = nullptr);

// Packs dense weights W (n_in, n_out) and b (n_out), and `norm` (may be null) as above. If
// `nhwc_chw` is given (C, H, W) the input rows are the NHWC flattening of a (C, H, W) image rather
// than Theano's C-order flattening, and W's rows are permuted to match.
PackedWeights PackDenseWeights(const float* w, int64_t n_in, int64_t n_out, const float* bias,
                               int64_t block, const int64_t* nhwc_chw,
                               const BatchNormParams<float>* norm = nullptr);

// The default reduction slice (ConvTask::slice_bytes): three quarters of this machine's L2 cache.
int64_t DefaultReductionSliceBytes();

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
  // If set, NHWC like `output` (in res_frame, not overlapping it): added after the bias (and the
  // batch norm, if the weights carry one), before the activation (a residual sum fused into the
  // conv; bias, batch norm, then residual, as Theano's ops in turn).
  const float* residual = nullptr;
  OutputFrame res_frame;
  Activation activation = Activation::kOther;  // kOther = none.
  // If > 1: the epilogue ends with `feature_pool_reduce` over each group of `feature_pool`
  // consecutive output channels (Lasagne's FeaturePoolLayer: maxout), and `output` / `out_frame`
  // hold the pooled image (out_c / feature_pool channels). Each tile is computed into the share's
  // scratch (FeaturePoolScratchFloats) and pooled from there with ReduceGroups (core/fast/norm.h);
  // the weights' blocks hold whole groups (block % feature_pool == 0, one conv group), and the
  // reduction is not sliced (slice_bytes is ignored).
  int64_t feature_pool = 1;
  ReduceParams feature_pool_reduce;
  // The reduction is cut into slices of this many bytes of weights (partial sums parked in the
  // output between slices): FastOptions::reduction_slice_bytes, or DefaultReductionSliceBytes().
  int64_t slice_bytes = 0;
};
void RunConv(const ConvTask& task, const KernelEnv& env);

// The per-share scratch (KernelEnv::Scratch) RunConv needs for a task with a feature pool over
// `weights` (0 without one).
int64_t FeaturePoolScratchFloats(const ConvTask& task, const PackedWeights& weights);
// Whether RunConv can end the epilogue of a conv or dense layer packed as `weights` with a pool
// over groups of `size` consecutive output channels.
bool CanFeaturePool(const PackedWeights& weights, int64_t size);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_CONV_H_
