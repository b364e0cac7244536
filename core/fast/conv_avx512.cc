// The conv micro-kernel for AVX-512F (16-lane zmm registers; compiled with target attributes, run
// only when the plan's instruction set is AVX-512): NP x NV accumulators (<= 24 of the 32
// registers), NV weight loads and NP broadcasts per input channel.
#include <immintrin.h>

#include "core/fast/conv_kernel.h"

namespace theano_serving {
namespace fast {
namespace conv_internal {
namespace {

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
    __m512 gamma = b, beta = b, mean = b, inv_std = b;
    if (last && a.norm != nullptr) {
      gamma = _mm512_load_ps(a.norm + 16 * v);
      beta = _mm512_load_ps(a.norm + 16 * NV + 16 * v);
      mean = _mm512_load_ps(a.norm + 32 * NV + 16 * v);
      inv_std = _mm512_load_ps(a.norm + 48 * NV + 16 * v);
    }
#pragma GCC unroll 16
    for (int j = 0; j < NP; ++j) {
      __m512 r = acc[j][v];
      if (last) {
        r = _mm512_add_ps(r, b);
        if (a.norm != nullptr) {
          // The reference's batch norm, rounding for rounding: fma((r - mean) * gamma, inv_std,
          // beta).
          r = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_sub_ps(r, mean), gamma), inv_std, beta);
        }
        if (a.residual) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[v], t.res[j] + 16 * v));
        if (a.activation == Activation::kRelu) {
          r = _mm512_mul_ps(half, _mm512_add_ps(r, _mm512_abs_ps(r)));  // 0.5 * (r + |r|)
        }
      }
      _mm512_mask_storeu_ps(t.dst[j] + 16 * v, mask[v], r);
    }
  }
  if (last) FinishRows(t, NP, a, Isa::kAvx512);
}

template <int NP, int B>
struct Avx512K {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelAvx512<NP, B / 16>(t, a); }
};

}  // namespace

const KernelRow& Avx512Kernels(int64_t block) {
  static const KernelRow avx512_16 = Row<Avx512K, 16, 12>();
  static const KernelRow avx512_32 = Row<Avx512K, 32, 12>();
  static const KernelRow avx512_64 = Row<Avx512K, 64, 6>();
  return block == 16 ? avx512_16 : block == 32 ? avx512_32 : avx512_64;
}

}  // namespace conv_internal
}  // namespace fast
}  // namespace theano_serving
