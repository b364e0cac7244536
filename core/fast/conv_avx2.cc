// The conv micro-kernel for AVX2+FMA (8-lane ymm registers; compiled with target attributes, run
// only when the plan's instruction set is AVX2): NP x NV accumulator registers (<= 12), NV weight
// loads and NP broadcasts per input channel.
#include <immintrin.h>

#include "core/fast/conv_kernel.h"

namespace theano_serving {
namespace fast {
namespace conv_internal {
namespace {

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
    __m256 gamma = b, beta = b, mean = b, inv_std = b;
    if (last && a.norm != nullptr) {
      gamma = _mm256_load_ps(a.norm + 8 * v);
      beta = _mm256_load_ps(a.norm + 8 * NV + 8 * v);
      mean = _mm256_load_ps(a.norm + 16 * NV + 8 * v);
      inv_std = _mm256_load_ps(a.norm + 24 * NV + 8 * v);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) {
      __m256 r = acc[j][v];
      if (last) {
        r = _mm256_add_ps(r, b);
        if (a.norm != nullptr) {
          // The reference's batch norm: fma((r - mean) * gamma, inv_std, beta).
          r = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_sub_ps(r, mean), gamma), inv_std, beta);
        }
        if (a.residual) r = _mm256_add_ps(r, _mm256_maskload_ps(t.res[j] + 8 * v, mask[v]));
        if (a.activation == Activation::kRelu) {
          r = _mm256_mul_ps(half, _mm256_add_ps(r, _mm256_andnot_ps(sign, r)));  // 0.5*(r+|r|)
        }
      }
      _mm256_maskstore_ps(t.dst[j] + 8 * v, mask[v], r);
    }
  }
  if (last) FinishRows(t, NP, a, Isa::kAvx2);
}

template <int NP, int B>
struct Avx2K {
  static void Run(const Tile& t, const KernelArgs& a) { MicroKernelAvx2<NP, B / 8>(t, a); }
};

}  // namespace

const KernelRow& Avx2Kernels(int64_t block) {
  static const KernelRow avx2_16 = Row<Avx2K, 16, 6>();
  static const KernelRow avx2_32 = Row<Avx2K, 32, 3>();
  return block == 16 ? avx2_16 : avx2_32;  // ChooseBlock never gives AVX2 64.
}

}  // namespace conv_internal
}  // namespace fast
}  // namespace theano_serving
