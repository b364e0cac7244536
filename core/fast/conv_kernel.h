// Inside the conv family (conv.cc and conv_{portable,avx2,avx512}.cc): the interface between
// RunConv and the register-tile micro-kernels of each instruction set. Not for other callers.
#ifndef THEANO_SERVING_CORE_FAST_CONV_KERNEL_H_
#define THEANO_SERVING_CORE_FAST_CONV_KERNEL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/cpu.h"
#include "core/fast/eltwise.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {
namespace conv_internal {

inline constexpr int kMaxTilePixels = 12;
inline constexpr int64_t kMaxChunk = kMaxTilePixels * 16;  // Pixels per work item.

// One register tile: up to kMaxTilePixels output pixels of one block of output channels.
struct Tile {
  const float* src[kMaxTilePixels];  // Window origin of each pixel (+ the group's first channel).
  float* dst[kMaxTilePixels];        // First output channel of the block, for each pixel.
  const float* res[kMaxTilePixels];  // The same element of the residual (KernelArgs::residual).
};

// A tile sums k = tap * in_c + c over [k0, k1), a slice of its range of [0, num_taps * in_c) (the
// taps that do not fall on padding): the reduction is split into slices whose weights stay in L2;
// partial sums wait in the output (exactly: floats stored and reloaded), the first slice starts
// from zero, and only the last adds the bias and applies the activation.
struct KernelArgs {
  const int64_t* taps;
  int64_t in_c;  // Input channels summed per tap (the group's).
  int64_t k0;
  int64_t k1;
  int64_t c_lo, c_hi;  // Of every tap's in_c channels, only [c_lo, c_hi) are summed.
  bool first;          // [k0, k1) starts the tile's range.
  bool last;           // [k0, k1) ends it.
  const float* w;      // [tap][in_c][block]
  const float* bias;   // [block]
  // [gamma, beta, mean, inv_std][block] of a batch norm the last slice applies after the bias,
  // as the reference: fma((r - mean) * gamma, inv_std, beta); null: none.
  const float* norm;
  int valid;  // Output channels of the block that exist (<= block).
  Activation activation;
  bool prefetch;  // Fetch the weights ahead (they stream from memory: dense layers).
  bool residual;  // The last slice adds Tile::res after the bias (and norm), before the activation.
};

// The fused epilogue's element-wise part that is not done in registers (with the kernel's own
// instruction set, as the rest of the tile).
inline void FinishRows(const Tile& t, int np, const KernelArgs& a, Isa isa) {
  if (a.activation != Activation::kTanh && a.activation != Activation::kSigmoid) return;
  for (int j = 0; j < np; ++j) ApplyActivation(isa, a.activation, t.dst[j], t.dst[j], a.valid);
}

// Walks the k slice [a.k0, a.k1) tap by tap: each Next() gives one tap's input offset, its range
// of channels [c0, c1) (within [a.c_lo, a.c_hi)) and the weights of (tap, c0), for a block of B
// lanes. (A walker rather than a callback: a lambda would not carry the kernels' target
// attributes, and intrinsics in it would not compile.)
template <int B>
class TapWalk {
 public:
  explicit TapWalk(const KernelArgs& a) : a_(a), tap_(a.k0 / a.in_c), k_(a.k0) {}
  bool Next(int64_t* off, int64_t* c0, int64_t* c1, const float** w) {
    while (k_ < a_.k1) {
      const int64_t base = tap_ * a_.in_c;
      const int64_t lo = std::max(k_, base + a_.c_lo);
      const int64_t hi = std::min(a_.k1, base + a_.c_hi);
      k_ = base + a_.in_c;
      ++tap_;
      if (lo < hi) {
        *off = a_.taps[tap_ - 1];
        *c0 = lo - base;
        *c1 = hi - base;
        *w = a_.w + lo * B;
        return true;
      }
    }
    return false;
  }

 private:
  const KernelArgs& a_;
  int64_t tap_, k_;
};

using MicroKernel = void (*)(const Tile&, const KernelArgs&);

// One instruction set's kernels for one block width: kernels[np - 1] for np <= max_np.
struct KernelRow {
  MicroKernel kernels[kMaxTilePixels];
  int max_np;
};

// The row of K<np, B>::Run for np = 1..MaxNp (K: a class template whose static Run is the
// micro-kernel for np pixels and B channels).
template <template <int, int> class K, int B, int MaxNp, size_t... I>
KernelRow MakeRow(std::index_sequence<I...>) {
  KernelRow row{{(I < MaxNp ? &K<(I < MaxNp ? I + 1 : 1), B>::Run : nullptr)...}, MaxNp};
  return row;
}
template <template <int, int> class K, int B, int MaxNp>
KernelRow Row() {
  return MakeRow<K, B, MaxNp>(std::make_index_sequence<kMaxTilePixels>());
}

// Each instruction set's kernels for `block` output channels (conv_<isa>.cc). Tiles keep at most
// 24 (AVX-512) or 12 (AVX2) accumulator registers.
const KernelRow& PortableKernels(int64_t block);
const KernelRow& Avx2Kernels(int64_t block);
const KernelRow& Avx512Kernels(int64_t block);
// The row of `isa` (one of the three above).
const KernelRow& KernelsFor(Isa isa, int64_t block);

}  // namespace conv_internal
}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_CONV_KERNEL_H_
