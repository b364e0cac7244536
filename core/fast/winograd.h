// Winograd F(2x2, 3x3) for stride-1, undilated, one-group 3x3 convs over an NHWC input (Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 block of output
// pixels ("tile") reads a 4x4 block of input pixels d and is
//
//   Y = A^T [ U (.) (B^T d B) ] A,   U = G g G^T (per output and input channel),
//
// where (.) multiplies element by element and sums over the input channels: 16 matrix products
// (tiles x C) x (C x O), one per element of the 4x4 transform, instead of the direct conv's
// 9 x 4 products per tile (2.25x fewer multiplications). The products run on the conv
// micro-kernel (a 1x1 conv of the transformed tiles, conv_kernel.h); the input transform, and
// the output transform with the conv's fused epilogue (bias, batch norm, residual, activation),
// are vectorised over the channels.
//
// Rounding: not the direct conv's. U is G g G^T rounded once from double; the transforms add and
// subtract floats. Measured against the float64 conv, the error is about twice the direct
// kernel's (docs/THEANO_SEMANTICS.md's tolerance holds with room; core/fast/README.md's
// "Exactness" table). FastOptions::winograd = kNever keeps the direct kernel.
#ifndef THEANO_SERVING_CORE_FAST_WINOGRAD_H_
#define THEANO_SERVING_CORE_FAST_WINOGRAD_H_

#include <cstdint>

#include "core/fast/conv.h"
#include "core/fast/kernel_common.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

// U for the micro-kernel: for each of the 16 transform elements k = 4 * i + j and each block of
// `block` output channels, [input channel][block] floats (zero beyond the outputs), as 1x1 conv
// weights (PackedWeights' layout with one tap).
struct WinogradWeights {
  int64_t in_c = 0, out_c = 0;
  int64_t block = 16, num_blocks = 0;
  AlignedArray u;

  bool empty() const { return u == nullptr; }
  const float* U(int64_t k, int64_t b) const {
    return u.get() + (k * num_blocks + b) * in_c * block;
  }
  int64_t Bytes() const {
    return 16 * num_blocks * in_c * block * static_cast<int64_t>(sizeof(float));
  }
};

// Packs correlation-order 3x3 filters (O, C, 3, 3) (already flipped when filter_flip is true)
// into U, in blocks of `block` (ChooseBlock's) output channels.
WinogradWeights PackWinogradWeights(const float* filters, int64_t out_channels, int64_t in_channels,
                                    int64_t block);

// Whether a conv of this geometry can run as Winograd F(2x2, 3x3): 3x3, stride 1, dilation 1,
// one group.
bool WinogradApplies(const ConvGeometry& g);

// Whether it pays (FastOptions::winograd kAuto), on every instruction set: enough input and
// output channels that the transforms are a small part of the work, and an output of more than a
// few tiles. (Measured in docs/PERFORMANCE.md.)
bool PreferWinograd(const ConvGeometry& g);

// The most scratch a share of RunWinogradConv takes (KernelEnv::Scratch) for these weights, at
// any batch and thread count.
int64_t WinogradScratchFloats(const WinogradWeights& w, Isa isa);

// The conv `task` describes (its geometry, output and residual frames, activation, and the bias
// and batch norm of task.weights; task.weights' packed filters are not read) with the filters
// `w`. Its padded input must cover every window, as RunConv's; the rows and columns a partial
// tile reads beyond it (odd output sizes) count as zeros.
void RunWinogradConv(const ConvTask& task, const WinogradWeights& w, const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_WINOGRAD_H_
