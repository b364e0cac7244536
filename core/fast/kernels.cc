#include "core/fast/kernels.h"

#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "core/cpu.h"
#include "core/fast/thread_team.h"
#include "core/fast/vmath.h"
#include "core/fast/vmath_avx512.h"
#include "core/shape.h"

namespace theano_serving {
namespace fast {

void AlignedFree::operator()(float* p) const { std::free(p); }

AlignedArray AllocateZeroed(int64_t n) {
  const size_t bytes =
      (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  std::memset(p, 0, bytes);
  return AlignedArray(p);
}

namespace {

constexpr int kMaxTilePixels = 12;
constexpr int64_t kMaxChunk = kMaxTilePixels * 16;  // Pixels per work item.
// Weights per reduction slice: a 64-channel block of a 3x3x512 conv is 1.2 MB, more than this
// machine's 1 MB L2 cache; slicing keeps each slice in L2 while a chunk's tiles reuse it. Three
// quarters of the L2 (the rest holds the tiles' inputs and outputs) measured best: 256 KiB slices
// cost CIFAR-VGG b32 2% (its 3x3x256 blocks, 590 KB, were cut in three), and L1-sized ones 5-10%
// (docs/PERFORMANCE.md).
int64_t DefaultReductionSliceBytes() {
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);  // 0 or -1 where unknown.
  return (l2 > 0 ? static_cast<int64_t>(l2) : int64_t{1} << 20) / 4 * 3;
}
std::atomic<int64_t> reduction_slice_bytes{DefaultReductionSliceBytes()};
std::atomic<bool> parallelize_any_size{false};  // Tests: ignore the minimum parallel work.
std::atomic<int> planar_for_testing{0};         // Tests: 1 = always planar, -1 = never.

// One register tile: up to 6 output pixels of one block of output channels.
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
  int valid;           // Output channels of the block that exist (<= block).
  Activation activation;
  bool prefetch;  // Fetch the weights ahead (they stream from memory: dense layers).
  bool residual;  // The last slice adds Tile::res after the bias, before the activation.
};

// The fused epilogue's element-wise part that is not done in registers.
void FinishRows(const Tile& t, int np, const KernelArgs& a) {
  if (a.activation != Activation::kTanh && a.activation != Activation::kSigmoid) return;
  for (int j = 0; j < np; ++j) ApplyActivation(a.activation, t.dst[j], t.dst[j], a.valid);
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

// Portable micro-kernel: NP pixels x (8 * NV) channels.
template <int NP, int NV>
void MicroKernelPortable(const Tile& t, const KernelArgs& a) {
  constexpr int kBlock = 8 * NV;
  float acc[NP][kBlock] = {};
  if (!a.first) {
    for (int j = 0; j < NP; ++j) {
      for (int l = 0; l < a.valid; ++l) acc[j][l] = t.dst[j][l];
    }
  }
  TapWalk<kBlock> walk(a);
  int64_t off, c0, c1;
  const float* w;
  while (walk.Next(&off, &c0, &c1, &w)) {
    for (int64_t c = c0; c < c1; ++c) {
      for (int j = 0; j < NP; ++j) {
        const float x = t.src[j][off + c];
        for (int l = 0; l < kBlock; ++l) acc[j][l] += w[l] * x;
      }
      w += kBlock;
    }
  }
  const bool last = a.last;
  for (int j = 0; j < NP; ++j) {
    for (int l = 0; l < a.valid; ++l) {
      float r = acc[j][l];
      if (last) {
        r += a.bias[l];
        if (a.residual) r += t.res[j][l];
        if (a.activation == Activation::kRelu) r = 0.5f * (r + std::fabs(r));
      }
      t.dst[j][l] = r;
    }
  }
  if (last) FinishRows(t, NP, a);
}

// AVX2 micro-kernel: NP x NV accumulator registers (<= 12), NV weight loads and NP broadcasts per
// input channel.
template <int NP, int NV>
__attribute__((target("avx2,fma"))) void MicroKernelAvx2(const Tile& t, const KernelArgs& a) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i mask[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(a.valid - 8 * v), lane);
  }
  if (a.residual && a.last) {
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) {
#pragma GCC unroll 8
      for (int v = 0; v < NV; v += 2) {
        _mm_prefetch(reinterpret_cast<const char*>(t.res[j] + 8 * v), _MM_HINT_T0);
      }
    }
  }
  __m256 acc[NP][NV];
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      acc[j][v] = a.first ? _mm256_setzero_ps() : _mm256_maskload_ps(t.dst[j] + 8 * v, mask[v]);
    }
  }
  {
    TapWalk<8 * NV> walk(a);
    int64_t off, c0, c1;
    const float* w;
    while (walk.Next(&off, &c0, &c1, &w)) {
      const float* s[NP];
#pragma GCC unroll 8
      for (int j = 0; j < NP; ++j) s[j] = t.src[j] + off;
      for (int64_t c = c0; c < c1; ++c) {
        __m256 wv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) wv[v] = _mm256_load_ps(w + 8 * v);
#pragma GCC unroll 8
        for (int j = 0; j < NP; ++j) {
          const __m256 x = _mm256_broadcast_ss(s[j] + c);
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[j][v] = _mm256_fmadd_ps(wv[v], x, acc[j][v]);
        }
        w += 8 * NV;
      }
    }
  }
  const bool last = a.last;
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (a.valid - 8 * v <= 0) break;
    const __m256 b = _mm256_load_ps(a.bias + 8 * v);
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) {
      __m256 r = acc[j][v];
      if (last) {
        r = _mm256_add_ps(r, b);
        if (a.residual) r = _mm256_add_ps(r, _mm256_maskload_ps(t.res[j] + 8 * v, mask[v]));
        if (a.activation == Activation::kRelu) {
          r = _mm256_mul_ps(half, _mm256_add_ps(r, _mm256_andnot_ps(sign, r)));  // 0.5*(r+|r|)
        }
      }
      _mm256_maskstore_ps(t.dst[j] + 8 * v, mask[v], r);
    }
  }
  if (last) FinishRows(t, NP, a);
}

// AVX-512 micro-kernel: NP x NV zmm accumulators (<= 24 of the 32 registers), NV weight loads
// and NP broadcasts per input channel.
template <int NP, int NV>
__attribute__((target("avx512f"))) void MicroKernelAvx512(const Tile& t, const KernelArgs& a) {
  __mmask16 mask[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const int lanes = std::max(0, std::min(16, a.valid - 16 * v));
    mask[v] = static_cast<__mmask16>((1u << lanes) - 1u);
  }
  if (a.residual && a.last) {
    // The residual was written long before (often out of cache): fetch it during the reduction
    // rather than stall on it in the epilogue (ResNet-18 b8: +12% on the convs that carry it).
#pragma GCC unroll 16
    for (int j = 0; j < NP; ++j) {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        _mm_prefetch(reinterpret_cast<const char*>(t.res[j] + 16 * v), _MM_HINT_T0);
      }
    }
  }
  __m512 acc[NP][NV];
#pragma GCC unroll 16
  for (int j = 0; j < NP; ++j) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      acc[j][v] = a.first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[v], t.dst[j] + 16 * v);
    }
  }
  {
    TapWalk<16 * NV> walk(a);
    int64_t off, c0, c1;
    const float* w;
    while (walk.Next(&off, &c0, &c1, &w)) {
      const float* s[NP];
#pragma GCC unroll 16
      for (int j = 0; j < NP; ++j) s[j] = t.src[j] + off;
#pragma GCC unroll 2
      for (int64_t c = c0; c < c1; ++c) {
        __m512 wv[NV];
        if (NP <= 2 || a.prefetch) {
          // Few rows (a dense layer at batch 1-2): the weights stream from L3 with little work
          // per line; fetching 16 input channels ahead measured 4% faster on LeNet batch 1.
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) {
            _mm_prefetch(reinterpret_cast<const char*>(w + 16 * v + 16 * NV * 16), _MM_HINT_T0);
          }
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 16
        for (int j = 0; j < NP; ++j) {
          const __m512 x = _mm512_set1_ps(s[j][c]);
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(wv[v], x, acc[j][v]);
        }
        w += 16 * NV;
      }
    }
  }
  const bool last = a.last;
  const __m512 half = _mm512_set1_ps(0.5f);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    if (a.valid - 16 * v <= 0) break;
    const __m512 b = _mm512_load_ps(a.bias + 16 * v);
#pragma GCC unroll 16
    for (int j = 0; j < NP; ++j) {
      __m512 r = acc[j][v];
      if (last) {
        r = _mm512_add_ps(r, b);
        if (a.residual) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[v], t.res[j] + 16 * v));
        if (a.activation == Activation::kRelu) {
          r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
        }
      }
      _mm512_mask_storeu_ps(t.dst[j] + 16 * v, mask[v], r);
    }
  }
  if (last) FinishRows(t, NP, a);
}

using MicroKernel = void (*)(const Tile&, const KernelArgs&);

// One instruction set's kernels for one block width: kernels[np - 1] for np <= max_np.
struct KernelRow {
  MicroKernel kernels[kMaxTilePixels];
  int max_np;
};

template <int NP, int B>
struct PortableK {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelPortable<NP, B / 8>(t, a); }
};
template <int NP, int B>
struct Avx2K {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelAvx2<NP, B / 8>(t, a); }
};
template <int NP, int B>
struct Avx512K {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelAvx512<NP, B / 16>(t, a); }
};

template <template <int, int> class K, int B, int MaxNp, size_t... I>
KernelRow MakeRow(std::index_sequence<I...>) {
  KernelRow row{{(I < MaxNp ? &K<(I < MaxNp ? I + 1 : 1), B>::Run : nullptr)...}, MaxNp};
  return row;
}
template <template <int, int> class K, int B, int MaxNp>
KernelRow Row() {
  return MakeRow<K, B, MaxNp>(std::make_index_sequence<kMaxTilePixels>());
}

// The instruction set the kernels use: 2 = AVX-512, 1 = AVX2+FMA, 0 = portable.
int Isa() {
  if (!HasAvx2Fma()) return 0;
  return HasAvx512() ? 2 : 1;
}

// Kernels for `block` output channels on this CPU. Tiles keep at most 24 (AVX-512) or 12 (AVX2)
// accumulator registers.
const KernelRow& Kernels(int64_t block) {
  static const KernelRow portable16 = Row<PortableK, 16, 6>();
  static const KernelRow portable32 = Row<PortableK, 32, 6>();
  static const KernelRow portable64 = Row<PortableK, 64, 6>();
  static const KernelRow avx2_16 = Row<Avx2K, 16, 6>();
  static const KernelRow avx2_32 = Row<Avx2K, 32, 3>();
  static const KernelRow avx512_16 = Row<Avx512K, 16, 12>();
  static const KernelRow avx512_32 = Row<Avx512K, 32, 12>();
  static const KernelRow avx512_64 = Row<Avx512K, 64, 6>();
  switch (Isa()) {
    case 2:
      return block == 16 ? avx512_16 : block == 32 ? avx512_32 : avx512_64;
    case 1:
      return block == 16 ? avx2_16 : avx2_32;  // ChooseBlock never gives AVX2 64.
    default:
      return block == 16 ? portable16 : block == 32 ? portable32 : portable64;
  }
}

}  // namespace

namespace {
thread_local int team_member = 0;
}  // namespace

int TeamMember() { return team_member; }

void ParallelRangesImpl(int64_t n, int threads, void (*body)(const void*, int64_t, int64_t),
                        const void* context) {
  if (threads <= 1 || n <= 1) {
    body(context, int64_t{0}, n);
    return;
  }
  struct Ranges {
    int64_t n;
    void (*body)(const void*, int64_t, int64_t);
    const void* context;
  } ranges{n, body, context};
  ThreadTeam::ForThisThread().Run(
      threads,
      [](const void* r, int member, int members) {
        const Ranges& job = *static_cast<const Ranges*>(r);
        team_member = member;
        job.body(job.context, job.n * member / members, job.n * (member + 1) / members);
        team_member = 0;
      },
      &ranges);
}

void SetReductionSliceBytesForTesting(int64_t bytes) {
  reduction_slice_bytes = bytes > 0 ? bytes : DefaultReductionSliceBytes();
}

void SetParallelizeAnySizeForTesting(bool on) { parallelize_any_size = on; }

void SetPlanarConvForTesting(int mode) { planar_for_testing = mode; }

int64_t ChooseBlock(int64_t out_channels, bool few_rows) {
  if (Isa() < 2) return few_rows ? 32 : 16;
  // Few rows: wide blocks give one row enough independent accumulators, but not wider than the
  // layer (a 10-class output in 64-channel blocks streams 6x the weights it uses).
  if (few_rows) return out_channels <= 16 ? 16 : out_channels <= 32 ? 32 : 64;
  // AVX-512: the widest block that wastes no more lanes than a narrower one.
  int64_t best = 16;
  for (int64_t b : {32, 64}) {
    if ((out_channels + b - 1) / b * b <= (out_channels + best - 1) / best * best) best = b;
  }
  return best;
}

namespace {

// Below this much work a step runs on the calling thread alone: waking an OpenMP team costs more
// than it saves (measured on LeNet batch 1: 2 threads took 0.169 ms against 0.045 ms on one).
constexpr double kMinParallelFlops = 4e6;
constexpr int64_t kMinParallelFloats = 1 << 18;  // Data-movement steps: floats touched.

int ThreadsFor(int threads, double work, double minimum) {
  return work < minimum && !parallelize_any_size.load(std::memory_order_relaxed) ? 1 : threads;
}

}  // namespace

PackedWeights PackConvWeights(const float* filters, int64_t out_channels, int64_t in_per_group,
                              int64_t kh, int64_t kw, int64_t groups, const float* bias,
                              int64_t block) {
  PackedWeights p;
  p.groups = groups;
  p.out_per_group = out_channels / groups;
  p.in_per_group = in_per_group;
  p.taps = kh * kw;
  p.block = block;
  p.num_blocks = (p.out_per_group + block - 1) / block;
  p.data = AllocateZeroed(groups * p.num_blocks * p.taps * in_per_group * block);
  p.bias = AllocateZeroed(groups * p.num_blocks * block);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < p.num_blocks; ++b) {
      float* dst = p.data.get() + (g * p.num_blocks + b) * p.taps * in_per_group * block;
      for (int64_t l = 0; l < block; ++l) {
        const int64_t o = b * block + l;  // Within the group.
        if (o >= p.out_per_group) break;
        const int64_t oc = g * p.out_per_group + o;
        if (bias != nullptr)
          p.bias[static_cast<size_t>((g * p.num_blocks + b) * block + l)] = bias[oc];
        for (int64_t t = 0; t < p.taps; ++t) {
          for (int64_t c = 0; c < in_per_group; ++c) {
            dst[(t * in_per_group + c) * block + l] = filters[(oc * in_per_group + c) * p.taps + t];
          }
        }
      }
    }
  }
  return p;
}

PackedWeights PackDenseWeights(const float* w, int64_t n_in, int64_t n_out, const float* bias,
                               int64_t block, const int64_t* nhwc_chw) {
  PackedWeights p;
  p.groups = 1;
  p.out_per_group = n_out;
  p.in_per_group = n_in;
  p.taps = 1;
  p.block = block;
  p.num_blocks = (n_out + block - 1) / block;
  p.data = AllocateZeroed(p.num_blocks * n_in * block);
  p.bias = AllocateZeroed(p.num_blocks * block);
  for (int64_t o = 0; o < n_out && bias != nullptr; ++o) p.bias[static_cast<size_t>(o)] = bias[o];
  for (int64_t k = 0; k < n_in; ++k) {
    // Row of W that input position k (in the input's memory order) multiplies.
    int64_t row = k;
    if (nhwc_chw != nullptr) {
      const int64_t c_dim = nhwc_chw[0], w_dim = nhwc_chw[2], hw = nhwc_chw[1] * nhwc_chw[2];
      const int64_t c = k % c_dim;
      const int64_t pix = k / c_dim;  // y * W + x
      row = c * hw + (pix / w_dim) * w_dim + pix % w_dim;
    }
    for (int64_t o = 0; o < n_out; ++o) {
      const int64_t b = o / block;
      p.data[static_cast<size_t>((b * n_in + k) * block + o % block)] = w[row * n_out + o];
    }
  }
  return p;
}

namespace {

// The part of a conv's reduction one output pixel sums: k in [kb, ke), and of each tap's channels
// only [c_lo, c_hi) (kb == ke: none).
struct TapRange {
  int64_t kb, ke, c_lo, c_hi;
  bool operator==(const TapRange& o) const {
    return kb == o.kb && ke == o.ke && c_lo == o.c_lo && c_hi == o.c_hi;
  }
};

}  // namespace

void RunConv(const ConvTask& task, int threads) {
  const PackedWeights& w = *task.weights;
  const KernelRow& row = Kernels(w.block);
  const int max_np = row.max_np;
  const MicroKernel* kernels = row.kernels;
  const int64_t pixels = task.batch * task.out_h * task.out_w;
  const int64_t plane = task.out_h * task.out_w;
  const int64_t out_c = w.groups * w.out_per_group;
  // Pixel chunks of at most 16 tiles, all about the same size (whole tiles), so that the threads'
  // shares of (chunk, block) items are even: 196 pixels are 3 chunks of 66, 66 and 64 rather than
  // 96, 96 and 4.
  const int64_t max_chunk = max_np * 16;
  const int64_t even = (pixels + (pixels + max_chunk - 1) / max_chunk - 1) /
                       std::max<int64_t>(1, (pixels + max_chunk - 1) / max_chunk);
  const int64_t chunk = std::max<int64_t>(max_np, (even + max_np - 1) / max_np * max_np);
  const int64_t num_chunks = (pixels + chunk - 1) / chunk;
  const int64_t blocks = w.groups * w.num_blocks;
  const int64_t total_k = w.taps * w.in_per_group;
  const int64_t k_slice = std::max<int64_t>(1, reduction_slice_bytes.load() / (w.block * 4));

  // Work items are (pixel chunk, channel block), chunk-major; a thread's range of items shares each
  // chunk's window origins, computed once per chunk.
  const double flops =
      2.0 * static_cast<double>(pixels) * static_cast<double>(out_c) * static_cast<double>(total_k);
  threads = ThreadsFor(threads, flops, kMinParallelFlops);
  // Taps on zero padding add nothing, so each pixel sums only the taps on the image: the kernel
  // rows on real input rows and, when the kernel columns are merged into the channel axis, the
  // columns on real input columns. A chunk's pixels are grouped by that range and tiled per group
  // (ResNet-18's 7x7 and CIFAR-VGG's 8x8 layers spend 16-18% of their taps on padding).
  const bool skip_rows = task.kh > 0 && task.rows_hi > task.rows_lo;
  const int64_t k_per_row = skip_rows ? total_k / task.kh : total_k;
  // (Columns only on narrow images: on wide ones the edge columns are few, and their groups'
  // extra partial tiles cost more than the taps they skip; measured on ResNet-18 b1.)
  const bool skip_cols =
      skip_rows && task.kw_merged > 0 && task.cols_hi > task.cols_lo && task.out_w <= 16;
  const int64_t column_c = skip_cols ? w.in_per_group / task.kw_merged : 0;
  // Rows [full_y0, full_y1) and columns [full_x0, full_x1) sum every tap (range `full`).
  const TapRange full{0, total_k, 0, w.in_per_group};
  const int64_t full_y0 = skip_rows ? (task.rows_lo + task.stride_h - 1) / task.stride_h : 0;
  const int64_t full_y1 =
      skip_rows ? (task.rows_hi - 1 - (task.kh - 1) * task.dil_h) / task.stride_h + 1 : task.out_h;
  const int64_t full_x0 = skip_cols ? (task.cols_lo + task.stride_w - 1) / task.stride_w : 0;
  const int64_t full_x1 =
      skip_cols ? (task.cols_hi - task.kw_merged) / task.stride_w + 1 : task.out_w;
  auto range_of = [&](int64_t oy, int64_t ox) {
    if (oy >= full_y0 && oy < full_y1 && ox >= full_x0 && ox < full_x1) return full;
    TapRange r{0, total_k, 0, w.in_per_group};
    int64_t lo = 0, hi = 1;
    if (skip_rows) {
      const int64_t y0 = oy * task.stride_h;
      hi = task.kh;
      while (lo < hi && y0 + lo * task.dil_h < task.rows_lo) ++lo;
      while (hi > lo && y0 + (hi - 1) * task.dil_h >= task.rows_hi) --hi;
    }
    if (skip_cols) {
      const int64_t x0 = ox * task.stride_w;
      int64_t xl = 0, xh = task.kw_merged;
      while (xl < xh && x0 + xl < task.cols_lo) ++xl;
      while (xh > xl && x0 + xh - 1 >= task.cols_hi) --xh;
      r.c_lo = xl * column_c, r.c_hi = xh * column_c;
    }
    if (lo >= hi || r.c_lo >= r.c_hi) return TapRange{0, 0, 0, w.in_per_group};  // No tap.
    r.kb = lo * k_per_row + r.c_lo;
    r.ke = hi * k_per_row - w.in_per_group + r.c_hi;
    return r;
  };
  ParallelRanges(num_chunks * blocks, threads, [&](int64_t begin, int64_t end) {
    int64_t src_off[kMaxChunk], dst_off[kMaxChunk], res_off[kMaxChunk];
    // The chunk's pixels (indices from p0) grouped by tap range: group i is
    // order[group_begin[i], group_begin[i + 1]), of range ranges[i].
    // (At most one group per pixel, the full range and one widened group per pixel.)
    constexpr int kMaxGroups = 2 * kMaxChunk + 1;
    int order[kMaxChunk], group_of[kMaxChunk], group_begin[kMaxGroups + 1];
    TapRange ranges[kMaxGroups];
    int groups = 0;
    int64_t cached = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t ci = item / blocks;
      const int64_t gb = item % blocks;
      const int64_t g = gb / w.num_blocks;
      const int64_t b = gb % w.num_blocks;
      const int64_t p0 = ci * chunk;
      const int64_t p1 = std::min(pixels, p0 + chunk);
      if (ci != cached) {
        int64_t n = p0 / plane;
        int64_t oy = (p0 - n * plane) / task.out_w;
        int64_t ox = p0 - n * plane - oy * task.out_w;
        groups = 1;
        ranges[0] = full;
        int last = 0;
        TapRange r = full;
        // Most chunks lie in one image's full rows: every pixel sums every tap.
        const int64_t n_end = (p1 - 1) / plane;
        const bool all_full =
            !skip_cols && (!skip_rows || (n_end == n && oy >= full_y0 &&
                                          (p1 - 1 - n * plane) / task.out_w < full_y1));
        for (int64_t p = p0; p < p1; ++p) {
          const int i = static_cast<int>(p - p0);
          src_off[i] = ((n * task.in_h + oy * task.stride_h + task.in_top) * task.in_w +
                        ox * task.stride_w + task.in_left) *
                       task.in_c;
          dst_off[i] = task.out_frame.Pixel(n, oy, ox, task.out_h, task.out_w) * out_c;
          res_off[i] = task.res_frame.Pixel(n, oy, ox, task.out_h, task.out_w) * out_c;
          group_of[i] = 0;
          if (!all_full) {
            // (Without column cuts, a row's pixels share its range: found once per row.)
            if (skip_cols || p == p0 || ox == 0) r = range_of(oy, ox);
            if (!(ranges[last] == r)) {
              last = 0;
              while (last < groups && !(ranges[last] == r)) ++last;
              if (last == groups) ranges[groups++] = r;
            }
            group_of[i] = last;
          }
          if (++ox == task.out_w) {
            ox = 0;
            if (++oy == task.out_h) oy = 0, ++n;
          }
        }
        if (skip_cols) {
          // A group with less than a tile whose columns are cut (the edge columns of a wide
          // image: a one-pixel tile costs more than the taps it skips) sums its rows' every
          // column instead, joining that group.
          int count[kMaxGroups], target[kMaxGroups];
          std::fill(count, count + groups, 0);
          for (int64_t i = 0; i < p1 - p0; ++i) ++count[group_of[i]];
          const int found = groups;
          for (int k = 0; k < found; ++k) {
            const TapRange& g_range = ranges[k];
            target[k] = k;
            if (count[k] >= max_np || g_range.kb == g_range.ke ||
                (g_range.c_lo == 0 && g_range.c_hi == w.in_per_group)) {
              continue;
            }
            const TapRange wide{g_range.kb - g_range.c_lo,
                                g_range.ke - g_range.c_hi + w.in_per_group, 0, w.in_per_group};
            int t = 0;
            while (t < groups && !(ranges[t] == wide)) ++t;
            if (t == groups) ranges[groups++] = wide;
            target[k] = t;
          }
          for (int64_t i = 0; i < p1 - p0; ++i) group_of[i] = target[group_of[i]];
        }
        if (groups == 1) {
          for (int i = 0; i < p1 - p0; ++i) order[i] = i;
          group_begin[0] = 0, group_begin[1] = static_cast<int>(p1 - p0);
        } else {  // Counting sort by group, stable.
          std::fill(group_begin, group_begin + groups + 1, 0);
          for (int64_t i = 0; i < p1 - p0; ++i) ++group_begin[group_of[i] + 1];
          for (int k = 0; k < groups; ++k) group_begin[k + 1] += group_begin[k];
          int fill[kMaxGroups];
          std::copy(group_begin, group_begin + groups, fill);
          for (int64_t i = 0; i < p1 - p0; ++i) order[fill[group_of[i]]++] = static_cast<int>(i);
        }
        cached = ci;
      }
      KernelArgs args;
      args.taps = task.tap_offsets;
      args.in_c = w.in_per_group;
      args.w = w.BlockWeights(g, b);
      args.bias = w.BlockBias(g, b);
      args.valid = static_cast<int>(std::min(w.block, w.out_per_group - b * w.block));
      args.activation = task.activation;
      args.prefetch = task.in_h == 1 && task.in_w == 1 && task.out_h == 1 && task.out_w == 1;
      args.residual = task.residual != nullptr;
      const float* src = task.input + g * w.in_per_group;
      float* dst = task.output + g * w.out_per_group + b * w.block;
      const float* res = args.residual ? task.residual + g * w.out_per_group + b * w.block : dst;
      Tile tile;
      for (int64_t k0 = 0; k0 < total_k; k0 += k_slice) {
        for (int gi = 0; gi < groups; ++gi) {
          // This slice's part of the group's range (a group with no tap at all, every tap on
          // padding, still runs once: bias and activation only).
          const TapRange& r = ranges[gi];
          if (r.kb == r.ke) {
            if (k0 > 0) continue;
            args.k0 = args.k1 = r.kb;
          } else {
            args.k0 = std::max(k0, r.kb);
            args.k1 = std::min(k0 + k_slice, r.ke);
            if (args.k0 >= args.k1) continue;
          }
          args.first = args.k0 == r.kb;
          args.last = args.k1 == r.ke;
          args.c_lo = r.c_lo;
          args.c_hi = r.c_hi;
          // Tiles of nearly equal size: 49 pixels are 4 x 6 + 5 x 5 rather than 8 x 6 + 1 (a
          // one-pixel tile waits on the FMA latency; ResNet-18's 7x7 layers at batch 1).
          const int s0 = group_begin[gi], s1 = group_begin[gi + 1];
          const int tiles = (s1 - s0 + max_np - 1) / max_np;
          for (int t = 0, q = s0; t < tiles; ++t) {
            const int np = (s1 - s0) / tiles + (t < (s1 - s0) % tiles ? 1 : 0);
            for (int j = 0; j < np; ++j) {
              const int i = order[q + j];
              tile.src[j] = src + src_off[i];
              tile.dst[j] = dst + dst_off[i];
              tile.res[j] = res + res_off[i];
            }
            kernels[np - 1](tile, args);
            q += np;
          }
        }
      }
    }
  });
}

namespace {

// ---- Planar convolution -------------------------------------------------------------------------

constexpr int kPlanarMaxTile = 6;     // Output channels per register tile.
constexpr int kPlanarMaxVectors = 4;  // 16-pixel vectors per register tile.

struct PlanarArgs {
  const float* s;      // The image's shifted copies, at the tile's first pixel.
  const int32_t* off;  // Per k.
  int64_t k;
  const float* w;     // [k][tile]
  const float* bias;  // [tile]
  int tile;           // Output channels per tile (the packing's).
  int valid;          // Of them, the ones that exist.
  int vectors;        // 16-pixel vectors in this tile.
  int last_lanes;     // Pixels in the last vector (1..16).
  float* out;         // The tile's first output channel, at the tile's first pixel.
  int64_t pixels;     // Output plane size (the stride between output channels).
  Activation activation;
};

void FinishPlanar(const PlanarArgs& a) {
  if (a.activation != Activation::kTanh && a.activation != Activation::kSigmoid) return;
  const int64_t n = 16 * (a.vectors - 1) + a.last_lanes;
  for (int o = 0; o < a.valid; ++o) {
    ApplyActivation(a.activation, a.out + o * a.pixels, a.out + o * a.pixels, n);
  }
}

void PlanarKernelPortable(const PlanarArgs& a) {
  float acc[kPlanarMaxTile][kPlanarMaxVectors * 16] = {};
  const int n = 16 * (a.vectors - 1) + a.last_lanes;
  for (int64_t k = 0; k < a.k; ++k) {
    const float* x = a.s + a.off[k];
    const float* w = a.w + k * a.tile;
    for (int o = 0; o < a.tile; ++o) {
      for (int p = 0; p < n; ++p) acc[o][p] += w[o] * x[p];
    }
  }
  for (int o = 0; o < a.valid; ++o) {
    for (int p = 0; p < n; ++p) {
      float r = acc[o][p] + a.bias[o];
      if (a.activation == Activation::kRelu) r = 0.5f * (r + std::fabs(r));
      a.out[o * a.pixels + p] = r;
    }
  }
  FinishPlanar(a);
}

// NOC output channels x NPV vectors of 16 pixels: NOC * NPV <= 24 accumulators; per k, NPV loads
// and NOC broadcasts.
template <int NOC, int NPV>
__attribute__((target("avx512f"))) void PlanarKernelAvx512(const PlanarArgs& a) {
  const __mmask16 last = static_cast<__mmask16>((1u << a.last_lanes) - 1u);
  __m512 acc[NOC][NPV];
#pragma GCC unroll 8
  for (int o = 0; o < NOC; ++o) {
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) acc[o][v] = _mm512_setzero_ps();
  }
  const float* w = a.w;
  for (int64_t k = 0; k < a.k; ++k) {
    const float* x = a.s + a.off[k];
    __m512 xv[NPV];
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) {
      xv[v] = v + 1 < NPV ? _mm512_loadu_ps(x + 16 * v) : _mm512_maskz_loadu_ps(last, x + 16 * v);
    }
#pragma GCC unroll 8
    for (int o = 0; o < NOC; ++o) {
      const __m512 wb = _mm512_set1_ps(w[o]);
#pragma GCC unroll 4
      for (int v = 0; v < NPV; ++v) acc[o][v] = _mm512_fmadd_ps(wb, xv[v], acc[o][v]);
    }
    w += NOC;
  }
  const __m512 half = _mm512_set1_ps(0.5f);
#pragma GCC unroll 8
  for (int o = 0; o < NOC; ++o) {
    if (o >= a.valid) break;
    const __m512 b = _mm512_set1_ps(a.bias[o]);
    float* out = a.out + o * a.pixels;
#pragma GCC unroll 4
    for (int v = 0; v < NPV; ++v) {
      __m512 r = _mm512_add_ps(acc[o][v], b);
      if (a.activation == Activation::kRelu) {
        r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
      }
      if (v + 1 < NPV) {
        _mm512_storeu_ps(out + 16 * v, r);
      } else {
        _mm512_mask_storeu_ps(out + 16 * v, last, r);
      }
    }
  }
  FinishPlanar(a);
}

using PlanarKernel = void (*)(const PlanarArgs&);

template <int NOC, size_t... V>
constexpr std::array<PlanarKernel, kPlanarMaxVectors> PlanarRow(std::index_sequence<V...>) {
  return {&PlanarKernelAvx512<NOC, static_cast<int>(V) + 1>...};
}

// The AVX-512 kernel for (tile, vectors).
PlanarKernel PlanarAvx512(int tile, int vectors) {
  static const std::array<std::array<PlanarKernel, kPlanarMaxVectors>, kPlanarMaxTile> table = {
      PlanarRow<1>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<2>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<3>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<4>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<5>(std::make_index_sequence<kPlanarMaxVectors>()),
      PlanarRow<6>(std::make_index_sequence<kPlanarMaxVectors>())};
  return table[static_cast<size_t>(tile - 1)][static_cast<size_t>(vectors - 1)];
}

// Output channels per planar tile: the width in [3, 6] that pads out_channels least (the widest
// on ties); fewer channels than 3 are one tile.
int64_t PlanarTile(int64_t out_channels) {
  if (out_channels < 3) return out_channels;
  int64_t best = kPlanarMaxTile;
  for (int64_t t = kPlanarMaxTile; t >= 3; --t) {
    if ((out_channels + t - 1) / t * t < (out_channels + best - 1) / best * best) best = t;
  }
  return best;
}

}  // namespace

PlanarWeights PackPlanarWeights(const float* filters, int64_t out_channels, int64_t in_channels,
                                int64_t kh, int64_t kw, const float* bias) {
  PlanarWeights p;
  p.out_channels = out_channels;
  p.k = in_channels * kh * kw;
  p.tile = PlanarTile(out_channels);
  p.num_tiles = (out_channels + p.tile - 1) / p.tile;
  p.data = AllocateZeroed(p.num_tiles * p.k * p.tile);
  p.bias = AllocateZeroed(p.num_tiles * p.tile);
  for (int64_t o = 0; o < out_channels; ++o) {
    const int64_t t = o / p.tile, l = o % p.tile;
    if (bias != nullptr) p.bias[static_cast<size_t>(o)] = bias[o];
    for (int64_t k = 0; k < p.k; ++k) {  // filters (O, C, kh, kw): k = (c, ky, kx) already.
      p.data[static_cast<size_t>((t * p.k + k) * p.tile + l)] = filters[o * p.k + k];
    }
  }
  return p;
}

bool PreferPlanar(int64_t out_channels, int64_t pixels) {
  const int forced = planar_for_testing.load(std::memory_order_relaxed);
  if (forced != 0) return forced > 0;
  if (Isa() < 2 || pixels < 16) return false;
  const int64_t block = ChooseBlock(out_channels, false);
  const double nhwc = static_cast<double>(out_channels) /
                      static_cast<double>((out_channels + block - 1) / block * block);
  const int64_t tile = PlanarTile(out_channels);
  const double planar = static_cast<double>(out_channels) /
                        static_cast<double>((out_channels + tile - 1) / tile * tile) *
                        static_cast<double>(pixels) / static_cast<double>((pixels + 15) / 16 * 16);
  return planar > nhwc + 0.1;
}

namespace {

// One (plane, kx) block of ShiftForPlanar: rows of out_w floats, columns [lo, hi) copied from
// src + y * w + shift, the rest zero; 16 columns per masked load and store.
__attribute__((target("avx512f"))) void ShiftBlockAvx512(const float* src, const ShiftGeometry& g,
                                                         int64_t shift, int64_t lo, int64_t hi,
                                                         float* dst) {
  const int64_t y0 = std::clamp<int64_t>(g.top, 0, g.shifted_h);  // Rows [y0, y1) are inside.
  const int64_t y1 = std::clamp<int64_t>(g.top + g.h, y0, g.shifted_h);
  for (int64_t o = 0; o < g.out_w; o += 16) {
    const int64_t n = std::min<int64_t>(16, g.out_w - o);
    const int64_t a = std::clamp<int64_t>(lo - o, 0, n), b = std::clamp<int64_t>(hi - o, a, n);
    const __mmask16 copy = static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
    const __mmask16 store = static_cast<__mmask16>((1u << n) - 1u);
    float* d = dst + o;
    for (int64_t ys = 0; ys < y0; ++ys)
      _mm512_mask_storeu_ps(d + ys * g.out_w, store, _mm512_setzero_ps());
    const float* from = src + (y0 - g.top) * g.w + o + shift;
    int64_t ys = y0;
    if (g.out_w <= 8) {
      // Two rows per vector: lanes [out_w, 2 * out_w) hold the next row, read from w floats on.
      const __mmask16 upper = static_cast<__mmask16>(copy << g.out_w);
      const __mmask16 store2 = static_cast<__mmask16>((1u << (2 * g.out_w)) - 1u);
      for (; ys + 1 < y1; ys += 2, from += 2 * g.w) {
        __m512 v = _mm512_maskz_loadu_ps(copy, from);
        v = _mm512_mask_loadu_ps(v, upper, from + g.w - g.out_w);
        _mm512_mask_storeu_ps(d + ys * g.out_w, store2, v);
      }
    }
    for (; ys < y1; ++ys, from += g.w) {
      _mm512_mask_storeu_ps(d + ys * g.out_w, store, _mm512_maskz_loadu_ps(copy, from));
    }
    for (int64_t yz = y1; yz < g.shifted_h; ++yz) {
      _mm512_mask_storeu_ps(d + yz * g.out_w, store, _mm512_setzero_ps());
    }
  }
}

}  // namespace

namespace {

// ShiftForPlanar for one input plane (h x w at src) into its kw shifted copies at dst.
void ShiftPlane(const float* src, const ShiftGeometry& g, bool avx512, float* dst) {
  for (int64_t kx = 0; kx < g.kw; ++kx, dst += g.shifted_h * g.out_w) {
    // Output columns whose source column ox + kx * dil_w - left lies in [0, w).
    const int64_t shift = kx * g.dil_w - g.left;
    const int64_t lo = std::clamp<int64_t>(-shift, 0, g.out_w);
    const int64_t hi = std::clamp<int64_t>(g.w - shift, lo, g.out_w);
    if (avx512) {
      ShiftBlockAvx512(src, g, shift, lo, hi, dst);
      continue;
    }
    float* d = dst;
    for (int64_t ys = 0; ys < g.shifted_h; ++ys, d += g.out_w) {
      const int64_t y = ys - g.top;
      if (y < 0 || y >= g.h) {
        std::fill(d, d + g.out_w, 0.0f);
        continue;
      }
      std::fill(d, d + lo, 0.0f);
      std::copy(src + y * g.w + lo + shift, src + y * g.w + hi + shift, d + lo);
      std::fill(d + hi, d + g.out_w, 0.0f);
    }
  }
}

}  // namespace

ShiftGeometry ShiftForConv(const ConvGeometry& g) {
  ShiftGeometry s;
  s.c = g.in_channels, s.h = g.in_h, s.w = g.in_w;
  s.top = g.pad_top, s.left = g.pad_left;
  s.kw = g.kw, s.dil_w = g.dil_w;
  s.shifted_h = (g.out_h - 1) + (g.kh - 1) * g.dil_h + 1;
  s.out_w = g.out_w;
  return s;
}

void ShiftForPlanar(const float* x, int64_t n, const ShiftGeometry& g, float* s, int threads) {
  const bool avx512 = Isa() == 2;
  threads = ThreadsFor(threads, static_cast<double>(n * g.PerImage()), kMinParallelFloats);
  ParallelRanges(n * g.c, threads, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      ShiftPlane(x + plane * g.h * g.w, g, avx512, s + plane * g.kw * g.Plane());
    }
  });
}

void RunPlanarConv(const PlanarConvTask& task, int threads) {
  const PlanarWeights& w = *task.weights;
  const int64_t vectors = (task.pixels + 15) / 16;
  const int64_t pixel_tiles = (vectors + kPlanarMaxVectors - 1) / kPlanarMaxVectors;
  const int64_t per_image = pixel_tiles * w.num_tiles;
  const bool avx512 = Isa() == 2;
  const double flops = 2.0 * static_cast<double>(task.batch * task.pixels * w.out_channels * w.k);
  threads = ThreadsFor(threads, flops, kMinParallelFlops);
  // Items (image, pixel tile, channel tile), channel tiles innermost: a pixel tile's input stays
  // in cache while every channel tile reads it.
  ParallelRanges(task.batch * per_image, threads, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / per_image;
      const int64_t pt = (item % per_image) / w.num_tiles;
      const int64_t ot = item % w.num_tiles;
      const int64_t v0 = pt * kPlanarMaxVectors;
      PlanarArgs a;
      a.vectors = static_cast<int>(std::min<int64_t>(kPlanarMaxVectors, vectors - v0));
      a.last_lanes = static_cast<int>(task.pixels - (v0 + a.vectors - 1) * 16);
      a.last_lanes = std::min(a.last_lanes, 16);
      a.s = task.shifted + n * task.shifted_per_image + v0 * 16;
      a.off = task.offsets;
      a.k = w.k;
      a.w = w.data.get() + ot * w.k * w.tile;
      a.bias = w.bias.get() + ot * w.tile;
      a.tile = static_cast<int>(w.tile);
      a.valid = static_cast<int>(std::min(w.tile, w.out_channels - ot * w.tile));
      a.pixels = task.pixels;
      a.out = task.output + (n * w.out_channels + ot * w.tile) * task.pixels + v0 * 16;
      a.activation = task.activation;
      if (avx512) {
        PlanarAvx512(a.tile, a.vectors)(a);
      } else {
        PlanarKernelPortable(a);
      }
    }
  });
}

namespace {

// One output pixel of pool_2d for channels [c0, c1), scalar; the reference's exact arithmetic.
void PoolPixelScalar(const float* in, int64_t w, int64_t c, PoolWindow wy, PoolWindow wx,
                     PoolMode mode, float divisor, int64_t c0, int64_t c1, float* out) {
  for (int64_t ch = c0; ch < c1; ++ch) {
    float r;
    if (mode == PoolMode::kMax) {
      if (wy.begin >= wy.end || wx.begin >= wx.end) {
        r = -std::numeric_limits<float>::infinity();
      } else {
        r = in[(wy.begin * w + wx.begin) * c + ch];
        for (int64_t y = wy.begin; y < wy.end; ++y) {
          for (int64_t x = wx.begin; x < wx.end; ++x) {
            const float a = in[(y * w + x) * c + ch];
            r = a > r ? a : r;
          }
        }
      }
    } else {
      float sum = 0;
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) sum += in[(y * w + x) * c + ch];
      }
      r = mode == PoolMode::kSum ? sum : sum / divisor;
    }
    out[ch] = r;
  }
}

// The same for 8 channels at a time; returns the first channel not done.
__attribute__((target("avx2,fma"))) int64_t PoolPixelAvx2(const float* in, int64_t w, int64_t c,
                                                          PoolWindow wy, PoolWindow wx,
                                                          PoolMode mode, float divisor,
                                                          float* out) {
  if (wy.begin >= wy.end || wx.begin >= wx.end) return 0;
  int64_t ch = 0;
  for (; ch + 8 <= c; ch += 8) {
    __m256 r;
    if (mode == PoolMode::kMax) {
      r = _mm256_loadu_ps(in + (wy.begin * w + wx.begin) * c + ch);
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
          r = _mm256_max_ps(_mm256_loadu_ps(in + (y * w + x) * c + ch), r);
        }
      }
    } else {
      r = _mm256_setzero_ps();
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          r = _mm256_add_ps(r, _mm256_loadu_ps(in + (y * w + x) * c + ch));
        }
      }
      if (mode != PoolMode::kSum) r = _mm256_div_ps(r, _mm256_set1_ps(divisor));
    }
    _mm256_storeu_ps(out + ch, r);
  }
  return ch;
}

// The same for every channel, 16 at a time with a masked tail; returns c.
__attribute__((target("avx512f"))) int64_t PoolPixelAvx512(const float* in, int64_t w, int64_t c,
                                                           PoolWindow wy, PoolWindow wx,
                                                           PoolMode mode, float divisor,
                                                           float* out) {
  if (wy.begin >= wy.end || wx.begin >= wx.end) return 0;
  for (int64_t ch = 0; ch < c; ch += 16) {
    const __mmask16 m = static_cast<__mmask16>(c - ch >= 16 ? 0xFFFFu : (1u << (c - ch)) - 1u);
    __m512 r;
    if (mode == PoolMode::kMax) {
      r = _mm512_maskz_loadu_ps(m, in + (wy.begin * w + wx.begin) * c + ch);
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
          // (The mask form: GCC 12's plain _mm512_max_ps trips -Wmaybe-uninitialized.)
          r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_maskz_loadu_ps(m, in + (y * w + x) * c + ch), r);
        }
      }
    } else {
      r = _mm512_setzero_ps();
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        for (int64_t x = wx.begin; x < wx.end; ++x) {
          r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, in + (y * w + x) * c + ch));
        }
      }
      if (mode != PoolMode::kSum) r = _mm512_div_ps(r, _mm512_set1_ps(divisor));
    }
    _mm512_mask_storeu_ps(out + ch, m, r);
  }
  return c;
}

}  // namespace

void RunPool(const float* input, int64_t batch, int64_t h, int64_t w, int64_t c,
             const PoolConfig& config, int64_t out_h, int64_t out_w, const OutputFrame& frame,
             float* output, Activation activation, int threads) {
  const int isa = Isa();
  threads = ThreadsFor(threads, static_cast<double>(batch * h * w * c), kMinParallelFloats);
  ParallelRanges(batch * out_h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / out_h;
      const int64_t oy = row % out_h;
      const float* in = input + n * h * w * c;
      float* out_row = output + frame.Pixel(n, oy, 0, out_h, out_w) * c;
      const PoolWindow wy = ClippedPoolWindow(oy, h, config.ws[0], config.stride[0], config.pad[0]);
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const PoolWindow wx =
            ClippedPoolWindow(ox, w, config.ws[1], config.stride[1], config.pad[1]);
        const float divisor = static_cast<float>(
            PoolDivisor(config.mode, config.ignore_border, config.ws[0], config.ws[1], wy, wx));
        float* out = out_row + ox * c;
        const int64_t done = isa == 2 ? PoolPixelAvx512(in, w, c, wy, wx, config.mode, divisor, out)
                             : isa == 1 ? PoolPixelAvx2(in, w, c, wy, wx, config.mode, divisor, out)
                                        : 0;
        PoolPixelScalar(in, w, c, wy, wx, config.mode, divisor, done, c, out);
      }
      ApplyActivation(activation, out_row, out_row, out_w * c);
    }
  });
}

namespace {

// The de-interleaving loads of a max pool 2 columns wide at column stride 2, for n <= 16 output
// columns: each window row is 2n floats, loaded as two masked registers.
struct MaxPool2Loads {
  __mmask16 m0, m1;
  __m512i evens, odds;
};
inline __attribute__((target("avx512f"))) MaxPool2Loads MakeMaxPool2Loads(int64_t n) {
  MaxPool2Loads l;
  l.m0 = static_cast<__mmask16>(2 * n >= 16 ? 0xFFFFu : (1u << (2 * n)) - 1u);
  l.m1 = static_cast<__mmask16>(2 * n <= 16 ? 0u : (1u << (2 * n - 16)) - 1u);
  l.evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  l.odds = _mm512_add_epi32(l.evens, _mm512_set1_epi32(1));
  return l;
}

// One output row of such a pool: the max over `rows` window rows from p (row stride w), combined
// in the reference's order — r = first, then r = max(next, r), i.e. a > r ? a : r, NaN included.
inline __attribute__((target("avx512f"))) __m512 MaxPool2Row(const MaxPool2Loads& l, const float* p,
                                                             int64_t w, int64_t rows) {
  __m512 a = _mm512_maskz_loadu_ps(l.m0, p), b = _mm512_maskz_loadu_ps(l.m1, p + 16);
  __m512 r = _mm512_permutex2var_ps(a, l.evens, b);
  r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.odds, b), r);
  for (int64_t y = 1; y < rows; ++y) {
    p += w;
    a = _mm512_maskz_loadu_ps(l.m0, p);
    b = _mm512_maskz_loadu_ps(l.m1, p + 16);
    r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.evens, b), r);
    r = _mm512_mask_max_ps(r, 0xFFFF, _mm512_permutex2var_ps(a, l.odds, b), r);
  }
  return r;
}

// PoolPlaneAvx512 for max pooling with windows 2 columns wide at column stride 2 (the common
// 2x2 / 2): per window row, one load of 32 floats de-interleaved into the even and odd columns.
__attribute__((target("avx512f"))) void MaxPool2PlaneAvx512(const float* plane, int64_t w,
                                                            const PlanarPool& rows, int64_t out_w,
                                                            float* out, int64_t count) {
  const int64_t out_h = static_cast<int64_t>(rows.wy.size());
  for (int64_t o = rows.x_lo; o < rows.x_hi; o += 16) {
    const int64_t n = std::min<int64_t>(16, rows.x_hi - o);
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
    const MaxPool2Loads loads = MakeMaxPool2Loads(n);
    for (int64_t i = 0; i < count; ++i) {
      const float* base = plane + i * rows.h * w + o * 2 - rows.config.pad[1];
      float* dst = out + i * out_h * out_w;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const PoolWindow wy = rows.wy[static_cast<size_t>(oy)];
        if (wy.begin >= wy.end) continue;  // Left to the scalar path.
        _mm512_mask_storeu_ps(dst + oy * out_w + o, m,
                              MaxPool2Row(loads, base + wy.begin * w, w, wy.end - wy.begin));
      }
    }
  }
}

constexpr int64_t kMaxFusedShiftColumns = 16;  // Kernel columns (shifted copies).

// Whether MaxPool2ShiftPlaneAvx512 takes a pool writing shifted copies: a max pool 2 columns wide
// at column stride 2 whose every output (at most 16 per row) is on the vector path, and shifted
// rows of at most 16.
bool FusedPoolShift(const PlanarPool& pool, const ShiftGeometry& g) {
  if (pool.config.mode != PoolMode::kMax || pool.config.ws[1] != 2 || pool.config.stride[1] != 2 ||
      pool.x_lo != 0 || pool.x_hi != pool.out_w || pool.out_w > 16 || g.out_w > 16 ||
      g.kw > kMaxFusedShiftColumns) {
    return false;
  }
  for (const PoolWindow& wy : pool.wy) {
    if (wy.begin >= wy.end) return false;
  }
  return true;
}

// One plane of a FusedPoolShift pool: each output row is pooled, activated and permuted into its
// kw shifted rows in registers (MaxPool2PlaneAvx512's arithmetic, then the activation's vector
// function, so the same values as pooling, ApplyActivation and ShiftPlane in turn).
__attribute__((target("avx512f"))) void MaxPool2ShiftPlaneAvx512(const float* plane, int64_t w,
                                                                 const PlanarPool& pool,
                                                                 Activation activation,
                                                                 const ShiftGeometry& g,
                                                                 float* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int64_t n = pool.out_w;
  const MaxPool2Loads loads = MakeMaxPool2Loads(n);
  const __mmask16 store = static_cast<__mmask16>((1u << g.out_w) - 1u);
  const int64_t block = g.shifted_h * g.out_w;  // One kx's copy.
  const float* base = plane - pool.config.pad[1];
  // Rows of padding above and below: zero in every copy.
  for (int64_t kx = 0; kx < g.kw; ++kx) {
    for (int64_t ys = 0; ys < g.shifted_h; ++ys) {
      if (ys >= g.top && ys < g.top + g.h) continue;
      _mm512_mask_storeu_ps(out + kx * block + ys * g.out_w, store, _mm512_setzero_ps());
    }
  }
  // Shifted row lane j of copy kx = pooled column j + kx * dil_w - left, zero outside [0, n).
  __m512i idx[kMaxFusedShiftColumns];
  __mmask16 valid[kMaxFusedShiftColumns];
  for (int64_t kx = 0; kx < g.kw; ++kx) {
    idx[kx] = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(kx * g.dil_w - g.left)));
    valid[kx] = _mm512_cmpge_epi32_mask(idx[kx], _mm512_setzero_si512()) &
                _mm512_cmplt_epi32_mask(idx[kx], _mm512_set1_epi32(static_cast<int>(n)));
  }
  const __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t oy = 0; oy < pool.out_h; ++oy) {
    const PoolWindow wy = pool.wy[static_cast<size_t>(oy)];
    __m512 r = MaxPool2Row(loads, base + wy.begin * w, w, wy.end - wy.begin);
    switch (activation) {
      case Activation::kRelu:
        r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
        break;
      case Activation::kTanh:
        r = Tanh16(r);
        break;
      case Activation::kSigmoid:
        r = Sigmoid16(r);
        break;
      case Activation::kOther:
        break;
    }
    float* row = out + (oy + g.top) * g.out_w;
    for (int64_t kx = 0; kx < g.kw; ++kx, row += block) {
      _mm512_mask_storeu_ps(row, store, _mm512_maskz_permutexvar_ps(valid[kx], idx[kx], r));
    }
  }
}

// The unclipped columns [x_lo, x_hi) of every row of one plane, up to 16 at a time: each window
// element (y, dx) is one vector of columns, combined in the reference's order. Column stride 1:
// loads at x0 + dx; stride 2: the row's span is loaded once (two registers) and each dx is a
// de-interleaving permute. Only for column strides 1 and 2.
__attribute__((target("avx512f"))) void PoolPlaneAvx512(const float* plane, int64_t w,
                                                        const PoolConfig& config,
                                                        const PlanarPool& rows, int64_t out_w,
                                                        float* out, int64_t count) {
  const int64_t sx = config.stride[1], wsx = config.ws[1];
  const bool max = config.mode == PoolMode::kMax;
  const int64_t out_h = static_cast<int64_t>(rows.wy.size());
  if (max && sx == 2 && wsx == 2) {
    MaxPool2PlaneAvx512(plane, w, rows, out_w, out, count);
    return;
  }
  if (count != 1) {
    for (int64_t i = 0; i < count; ++i) {
      PoolPlaneAvx512(plane + i * rows.h * w, w, config, rows, out_w, out + i * out_h * out_w, 1);
    }
    return;
  }
  // Stride 2: lanes per chunk such that the span 2 * (n - 1) + wsx fits two registers.
  const int64_t chunk = sx == 1 ? 16 : std::min<int64_t>(16, (32 - wsx) / 2 + 1);  // wsx <= 32
  const __m512i evens =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t o = rows.x_lo; o < rows.x_hi; o += chunk) {
    const int64_t n = std::min<int64_t>(chunk, rows.x_hi - o);
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
    const int64_t span = (n - 1) * sx + wsx;  // Elements the chunk's windows read in a row.
    const __mmask16 m0 = static_cast<__mmask16>(span >= 16 ? 0xFFFFu : (1u << span) - 1u);
    const __mmask16 m1 = static_cast<__mmask16>(span <= 16 ? 0u : (1u << (span - 16)) - 1u);
    const float* base = plane + o * sx - config.pad[1];
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const PoolWindow wy = rows.wy[static_cast<size_t>(oy)];
      if (wy.begin >= wy.end) continue;  // Left to the scalar path.
      __m512 r = _mm512_setzero_ps();
      bool first = true;
      for (int64_t y = wy.begin; y < wy.end; ++y) {
        const float* p = base + y * w;
        __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
        if (sx == 2) {
          a = _mm512_maskz_loadu_ps(m0, p);
          b = _mm512_maskz_loadu_ps(m1, p + 16);
        }
        for (int64_t dx = 0; dx < wsx; ++dx) {
          const __m512 v =
              sx == 1 ? _mm512_maskz_loadu_ps(m, p + dx)
                      : _mm512_permutex2var_ps(
                            a, _mm512_add_epi32(evens, _mm512_set1_epi32(static_cast<int>(dx))), b);
          if (!max) {
            r = _mm512_add_ps(r, v);
          } else if (first) {
            r = v;
          } else {
            // max_ps(a, r) = a > r ? a : r, NaN included: Theano's comparison.
            r = _mm512_mask_max_ps(r, 0xFFFF, v, r);
          }
          first = false;
        }
      }
      if (!max && config.mode != PoolMode::kSum) {
        r = _mm512_div_ps(r, _mm512_set1_ps(rows.divisor[static_cast<size_t>(oy)]));
      }
      _mm512_mask_storeu_ps(out + oy * out_w + o, m, r);
    }
  }
}

}  // namespace

PlanarPool PreparePlanarPool(int64_t h, int64_t w, const PoolConfig& config, int64_t out_h,
                             int64_t out_w) {
  PlanarPool p;
  p.h = h, p.w = w, p.out_h = out_h, p.out_w = out_w;
  p.config = config;
  const int64_t sx = config.stride[1], px = config.pad[1], wsx = config.ws[1];
  // The vector path: column stride 1, or 2 with windows of at most 32 columns (a chunk's span
  // must fit the two registers it is de-interleaved from).
  if (sx == 1 || (sx == 2 && wsx <= 32)) {
    p.x_lo = std::min(out_w, (px + sx - 1) / sx);
    p.x_hi = std::max(p.x_lo, std::min(out_w, w + px - wsx >= 0 ? (w + px - wsx) / sx + 1 : 0));
  }
  const PoolWindow full = {0, wsx};
  p.all_vector = p.x_lo == 0 && p.x_hi == out_w;
  for (int64_t oy = 0; oy < out_h; ++oy) {
    p.wy.push_back(ClippedPoolWindow(oy, h, config.ws[0], config.stride[0], config.pad[0]));
    p.all_vector = p.all_vector && p.wy.back().begin < p.wy.back().end;
    p.divisor.push_back(static_cast<float>(
        PoolDivisor(config.mode, config.ignore_border, config.ws[0], wsx, p.wy.back(), full)));
  }
  return p;
}

void RunPoolPlanar(const PlanarPool& pool, const float* input, int64_t planes, float* output,
                   Activation activation, const ShiftGeometry* shift_into, int threads) {
  const PoolConfig& config = pool.config;
  const int64_t h = pool.h, w = pool.w, out_h = pool.out_h, out_w = pool.out_w;
  const int64_t plane_out = out_h * out_w;
  const bool avx512 = Isa() == 2;
  const bool vector = avx512 && pool.x_lo < pool.x_hi;
  const bool fused = avx512 && shift_into != nullptr && FusedPoolShift(pool, *shift_into);
  threads = ThreadsFor(threads, static_cast<double>(planes * h * w), kMinParallelFloats);
  ParallelRanges(planes, threads, [&](int64_t begin, int64_t end) {
    // With shift_into, each plane is pooled into `scratch` and then copied into its consumer's
    // shifted copies.
    thread_local std::vector<float> scratch;
    if (shift_into != nullptr && scratch.size() < static_cast<size_t>(plane_out)) {
      scratch.resize(static_cast<size_t>(plane_out));
    }
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* in = input + plane * h * w;
      if (fused) {
        MaxPool2ShiftPlaneAvx512(in, w, pool, activation, *shift_into,
                                 output + plane * shift_into->kw * shift_into->Plane());
        continue;
      }
      float* out = shift_into != nullptr ? scratch.data() : output + plane * plane_out;
      if (vector && pool.all_vector && shift_into == nullptr) {
        // Every output on the vector path: the rest of the range at once.
        PoolPlaneAvx512(in, w, config, pool, out_w, out, end - plane);
        break;
      }
      if (vector) PoolPlaneAvx512(in, w, config, pool, out_w, out, 1);
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const PoolWindow wy = pool.wy[static_cast<size_t>(oy)];
        const bool vector_row = vector && wy.begin < wy.end;
        for (int64_t ox = 0; ox < out_w; ++ox) {
          if (vector_row && ox == pool.x_lo) ox = pool.x_hi;  // Done by PoolPlaneAvx512.
          if (ox >= out_w) break;
          const PoolWindow wx =
              ClippedPoolWindow(ox, w, config.ws[1], config.stride[1], config.pad[1]);
          const float divisor = static_cast<float>(
              PoolDivisor(config.mode, config.ignore_border, config.ws[0], config.ws[1], wy, wx));
          PoolPixelScalar(in, w, 1, wy, wx, config.mode, divisor, 0, 1, out + oy * out_w + ox);
        }
      }
      if (shift_into != nullptr) {
        ApplyActivation(activation, out, out, plane_out);
        ShiftPlane(out, *shift_into, avx512, output + plane * shift_into->kw * shift_into->Plane());
      }
    }
    // Planes are small (LeNet's 12x12 and 4x4): one call over the whole range.
    if (shift_into == nullptr) {
      ApplyActivation(activation, output + begin * plane_out, output + begin * plane_out,
                      (end - begin) * plane_out);
    }
  });
}

namespace {
__attribute__((target("avx2,fma"))) int64_t ReluAvx2(const float* x, float* y, int64_t n) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(half, _mm256_add_ps(r, _mm256_andnot_ps(sign, r))));
  }
  return i;
}
}  // namespace

void ApplyActivation(Activation activation, const float* x, float* y, int64_t n) {
  switch (activation) {
    case Activation::kOther:
      if (x != y) std::copy(x, x + n, y);
      return;
    case Activation::kRelu: {
      // The reference's 0.5 * (x + |x|), bit for bit.
      const int64_t done = HasAvx2Fma() ? ReluAvx2(x, y, n) : 0;
      for (int64_t i = done; i < n; ++i) y[i] = 0.5f * (x[i] + std::fabs(x[i]));
      return;
    }
    case Activation::kTanh:
      Tanh(x, y, n);
      return;
    case Activation::kSigmoid:
      Sigmoid(x, y, n);
      return;
  }
}

void AddChannelBias(const float* x, const float* bias, int64_t pixels, int64_t channels, float* y,
                    int threads) {
  threads = ThreadsFor(threads, static_cast<double>(pixels * channels), kMinParallelFloats);
  ParallelRanges(pixels, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* xp = x + p * channels;
      float* yp = y + p * channels;
      for (int64_t ch = 0; ch < channels; ++ch) yp[ch] = xp[ch] + bias[ch];
    }
  });
}

void AddArrays(absl::Span<const float* const> inputs, int64_t n, float* y, Activation activation,
               int threads) {
  // Ranges of whole cache lines per thread; the sum order per element is the reference's.
  const int64_t lines = (n + 15) / 16;
  threads = ThreadsFor(threads, static_cast<double>(n * inputs.size()), kMinParallelFloats);
  ParallelRanges(lines, threads, [&](int64_t begin, int64_t end) {
    const int64_t i0 = begin * 16, i1 = std::min(n, end * 16);
    if (y != inputs[0]) std::copy(inputs[0] + i0, inputs[0] + i1, y + i0);
    for (size_t k = 1; k < inputs.size(); ++k) {
      const float* x = inputs[k];
      for (int64_t i = i0; i < i1; ++i) y[i] += x[i];
    }
    ApplyActivation(activation, y + i0, y + i0, i1 - i0);
  });
}

namespace {

// One row of w pixels of 3 planes (stride hw) interleaved into w RGB triples, 16 pixels per step:
// two two-source permutes per 16 outputs (planes 0 and 1, then plane 2 merged in).
__attribute__((target("avx512f"))) void InterleaveRow3Avx512(const float* x, int64_t hw, int64_t w,
                                                             float* y) {
  // Output element e of vector k is pixel (16k + e) / 3, channel (16k + e) % 3.
  struct Indices {
    alignas(64) int32_t ab[3][16], cc[3][16];
    Indices() {
      for (int k = 0; k < 3; ++k) {
        for (int e = 0; e < 16; ++e) {
          const int g = 16 * k + e, p = g / 3, ch = g % 3;
          ab[k][e] = ch == 0 ? p : ch == 1 ? 16 + p : 0;
          cc[k][e] = ch == 2 ? 16 + p : e;
        }
      }
    }
  };
  static const Indices indices;
  __m512i iab[3], icc[3];
  for (int k = 0; k < 3; ++k) {
    iab[k] = _mm512_load_si512(indices.ab[k]);
    icc[k] = _mm512_load_si512(indices.cc[k]);
  }
  int64_t p = 0;
  for (; p + 16 <= w; p += 16) {
    const __m512 a = _mm512_loadu_ps(x + p), b = _mm512_loadu_ps(x + hw + p),
                 c = _mm512_loadu_ps(x + 2 * hw + p);
    for (int k = 0; k < 3; ++k) {
      const __m512 t = _mm512_permutex2var_ps(a, iab[k], b);
      _mm512_storeu_ps(y + 3 * p + 16 * k, _mm512_permutex2var_ps(t, icc[k], c));
    }
  }
  for (; p < w; ++p) {
    for (int ch = 0; ch < 3; ++ch) y[3 * p + ch] = x[ch * hw + p];
  }
}

}  // namespace

void NchwToNhwc(const float* x, int64_t n, int64_t c, int64_t h, int64_t w,
                const OutputFrame& frame, float* y, int threads) {
  const int64_t hw = h * w;
  const bool rgb = c == 3 && Isa() == 2;
  threads = ThreadsFor(threads, static_cast<double>(n * c * hw), kMinParallelFloats);
  ParallelRanges(n * h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row / h, r = row % h;
      const float* xr = x + i * c * hw + r * w;
      float* yr = y + frame.Pixel(i, r, 0, h, w) * c;
      if (rgb) {
        InterleaveRow3Avx512(xr, hw, w, yr);
        continue;
      }
      for (int64_t p = 0; p < w; ++p) {
        for (int64_t ch = 0; ch < c; ++ch) yr[p * c + ch] = xr[ch * hw + p];
      }
    }
  });
}

void NhwcToNchw(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, float* y, int threads) {
  const int64_t hw = h * w;
  threads = ThreadsFor(threads, static_cast<double>(n * c * hw), kMinParallelFloats);
  ParallelRanges(n * c, threads, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t i = plane / c, ch = plane % c;
      const float* xi = x + i * c * hw;
      float* yp = y + plane * hw;
      for (int64_t p = 0; p < hw; ++p) yp[p] = xi[p * c + ch];
    }
  });
}

void CopyIntoPadded(const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                    const OutputFrame& frame, float* y, int threads) {
  threads = ThreadsFor(threads, static_cast<double>(n * h * w * c), kMinParallelFloats);
  ParallelRanges(n * h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row / h, r = row % h;
      const float* src = x + row * w * c;
      float* dst = y + frame.Pixel(i, r, 0, h, w) * c;
      if (w * c > 0) std::memcpy(dst, src, static_cast<size_t>(w * c) * sizeof(float));
    }
  });
}

}  // namespace fast
}  // namespace theano_serving
