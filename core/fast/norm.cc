#include "core/fast/norm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/fast/eltwise.h"
#include "core/fast/thread_team.h"
#include "core/ops/normalization_row.h"
#include "core/ops/reduce.h"
#include "core/ops/softmax.h"
#include "core/ops/theano_scalar.h"

// GCC 12 reports a false -Wmaybe-uninitialized inside avx512fintrin.h wherever an AVX-512
// intrinsic that passes _mm512_undefined_*() as its unused merge source is inlined (GCC bug 105593,
// fixed in GCC 13; see core/fast/vmath_avx512.h).
#if defined(__GNUC__) && !defined(__clang__)  // (Clang has no such warning group.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace theano_serving {
namespace fast {
namespace {

// ---------------------------------------------------------------------------------------------
// Batch norm: the reference's row function (BatchNormRowImpl), compiled once per instruction set.

using BatchNormRowFn = void (*)(int64_t n, const float* x, int64_t p_stride, const float* gamma,
                                const float* beta, const float* mean, const float* inv_std,
                                float* y);

void BatchNormRowPortable(int64_t n, const float* x, int64_t p_stride, const float* gamma,
                          const float* beta, const float* mean, const float* inv_std, float* y) {
  BatchNormRowImpl(n, x, p_stride, gamma, beta, mean, inv_std, y);
}
__attribute__((target("avx512f,avx2,fma"))) void BatchNormRowAvx512(
    int64_t n, const float* x, int64_t p_stride, const float* gamma, const float* beta,
    const float* mean, const float* inv_std, float* y) {
  BatchNormRowImpl(n, x, p_stride, gamma, beta, mean, inv_std, y);
}
BatchNormRowFn BatchNormRowFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return BatchNormRowAvx512;
    case Isa::kAvx2:
      return BatchNormRowAvx2;
    case Isa::kPortable:
      break;
  }
  return BatchNormRowPortable;
}

// ---------------------------------------------------------------------------------------------
// LRN.

// How RunLrn computes scale ** beta. All but k075 are exactly the reference's ConstantPow.
enum class LrnPowKind {
  k075,       // r * sqrt(r), r = sqrt(s), in float (Pow075).
  kIdentity,  // beta = 1: s.
  kSqrt,      // beta = 0.5: sqrt(s) (correctly rounded: the same as std::sqrt).
  kOther,     // ConstantPow per element.
};

// s ** 0.75 for one float: r = sqrt(s), then r * sqrt(r), each a correctly rounded IEEE float
// operation, so the vector copies below give the same bits. sqrt(-inf) is NaN where
// powf(-inf, 0.75) = +inf.
inline float Pow075(float s) {
  if (s == -std::numeric_limits<float>::infinity()) return std::numeric_limits<float>::infinity();
  const float r = std::sqrt(s);
  return r * std::sqrt(r);
}

__attribute__((target("avx2,fma"))) inline __m256 Pow075x8(__m256 s) {
  const __m256 r = _mm256_sqrt_ps(s);
  const __m256 p = _mm256_mul_ps(r, _mm256_sqrt_ps(r));
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 minus_inf = _mm256_cmp_ps(s, _mm256_sub_ps(_mm256_setzero_ps(), inf), _CMP_EQ_OQ);
  return _mm256_blendv_ps(p, inf, minus_inf);
}

__attribute__((target("avx512f,avx2,fma"))) inline __m512 Pow075x16(__m512 s) {
  const __m512 r = _mm512_sqrt_ps(s);
  const __m512 p = _mm512_mul_ps(r, _mm512_sqrt_ps(r));
  const __mmask16 minus_inf =
      _mm512_cmp_ps_mask(s, _mm512_set1_ps(-std::numeric_limits<float>::infinity()), _CMP_EQ_OQ);
  return _mm512_mask_mov_ps(p, minus_inf, _mm512_set1_ps(std::numeric_limits<float>::infinity()));
}

__attribute__((target("avx2,fma"))) int64_t Pow075Avx2(const float* s, float* p, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, Pow075x8(_mm256_loadu_ps(s + i)));
  return i;
}
__attribute__((target("avx512f,avx2,fma"))) int64_t Pow075Avx512(const float* s, float* p,
                                                                 int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(p + i, m, Pow075x16(_mm512_maskz_loadu_ps(m, s + i)));
  }
  return n;
}

// What one pixel of RunLrn needs: the attributes, the taps clamped to the channels, scratch.
struct LrnPixelArgs {
  int64_t c = 0;
  int64_t half = 0;  // min(n / 2, c): more taps outside the channels change nothing (see RunLrn).
  float alpha = 0, k = 0;
  LrnPowKind pow_kind = LrnPowKind::kOther;
  const theano_scalar::ConstantPow<float>* pow = nullptr;
  // sq[half + j] = x[j] * x[j]; sq[0, half) and sq[half + c, 2 * half + c) are zero.
  float* sq = nullptr;
  float* scale = nullptr;  // c floats (kOther only).
};

// out[j] = x[j] / scale[j] ** beta for channels [from, to), with scale in a.scale.
void LrnFinishScalar(const LrnPixelArgs& a, const float* x, int64_t from, int64_t to, float* out) {
  for (int64_t j = from; j < to; ++j) {
    const float s = a.scale[j];
    float p = s;
    switch (a.pow_kind) {
      case LrnPowKind::k075:
        p = Pow075(s);
        break;
      case LrnPowKind::kIdentity:
        break;
      case LrnPowKind::kSqrt:
        p = std::sqrt(s);
        break;
      case LrnPowKind::kOther:
        p = (*a.pow)(s);
        break;
    }
    out[j] = x[j] / p;
  }
}

// Channels [from, c) of one pixel, one channel at a time: the reference's operations.
void LrnChannelsScalar(const LrnPixelArgs& a, const float* x, int64_t from, float* out) {
  const int64_t taps = 2 * a.half + 1;
  for (int64_t j = from; j < a.c; ++j) {
    float s = a.k;
    for (int64_t t = 0; t < taps; ++t) s = std::fma(a.alpha, a.sq[j + t], s);
    a.scale[j] = s;
  }
  LrnFinishScalar(a, x, from, a.c, out);
}

void LrnPixelPortable(const LrnPixelArgs& a, const float* x, float* out) {
  for (int64_t j = 0; j < a.c; ++j) a.sq[a.half + j] = x[j] * x[j];
  LrnChannelsScalar(a, x, 0, out);
}

__attribute__((target("avx2,fma"))) void LrnPixelAvx2(const LrnPixelArgs& a, const float* x,
                                                      float* out) {
  const int64_t c = a.c, taps = 2 * a.half + 1;
  int64_t j = 0;
  for (; j + 8 <= c; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    _mm256_storeu_ps(a.sq + a.half + j, _mm256_mul_ps(v, v));
  }
  for (; j < c; ++j) a.sq[a.half + j] = x[j] * x[j];
  const __m256 alpha = _mm256_set1_ps(a.alpha);
  j = 0;
  for (; j + 8 <= c; j += 8) {
    __m256 s = _mm256_set1_ps(a.k);
    for (int64_t t = 0; t < taps; ++t) s = _mm256_fmadd_ps(alpha, _mm256_loadu_ps(a.sq + j + t), s);
    switch (a.pow_kind) {
      case LrnPowKind::k075:
        s = Pow075x8(s);
        break;
      case LrnPowKind::kIdentity:
        break;
      case LrnPowKind::kSqrt:
        s = _mm256_sqrt_ps(s);
        break;
      case LrnPowKind::kOther:
        _mm256_storeu_ps(a.scale + j, s);
        continue;
    }
    _mm256_storeu_ps(out + j, _mm256_div_ps(_mm256_loadu_ps(x + j), s));
  }
  if (a.pow_kind == LrnPowKind::kOther) LrnFinishScalar(a, x, 0, j, out);
  LrnChannelsScalar(a, x, j, out);
}

__attribute__((target("avx512f,avx2,fma"))) void LrnPixelAvx512(const LrnPixelArgs& a,
                                                                const float* x, float* out) {
  const int64_t c = a.c, taps = 2 * a.half + 1;
  for (int64_t j = 0; j < c; j += 16) {
    const __mmask16 m = static_cast<__mmask16>(c - j >= 16 ? 0xFFFFu : (1u << (c - j)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + j);
    _mm512_mask_storeu_ps(a.sq + a.half + j, m, _mm512_mul_ps(v, v));
  }
  const __m512 alpha = _mm512_set1_ps(a.alpha);
  for (int64_t j = 0; j < c; j += 16) {
    const __mmask16 m = static_cast<__mmask16>(c - j >= 16 ? 0xFFFFu : (1u << (c - j)) - 1u);
    __m512 s = _mm512_set1_ps(a.k);
    for (int64_t t = 0; t < taps; ++t) {
      s = _mm512_fmadd_ps(alpha, _mm512_maskz_loadu_ps(m, a.sq + j + t), s);
    }
    switch (a.pow_kind) {
      case LrnPowKind::k075:
        s = Pow075x16(s);
        break;
      case LrnPowKind::kIdentity:
        break;
      case LrnPowKind::kSqrt:
        s = _mm512_sqrt_ps(s);
        break;
      case LrnPowKind::kOther:
        _mm512_mask_storeu_ps(a.scale + j, m, s);
        continue;
    }
    // Masked lanes divide 0 by a scale that may be 0: the mask form leaves them alone.
    _mm512_mask_storeu_ps(out + j, m, _mm512_maskz_div_ps(m, _mm512_maskz_loadu_ps(m, x + j), s));
  }
  if (a.pow_kind == LrnPowKind::kOther) LrnFinishScalar(a, x, 0, c, out);
}

// ---------------------------------------------------------------------------------------------
// Reduce, channels-last: a block of channels [c0, c1) of one item, pixel by pixel, each channel in
// its own lane (double lanes for sum and mean). Returns the first channel not done.

// theano_scalar::Maximum(acc, v) (Minimum with `min`) lane by lane: v > acc ? v : acc, and the
// canonical quiet NaN where the two are unordered.
__attribute__((target("avx2,fma"))) inline __m256 MaxMin8(__m256 acc, __m256 v, bool min) {
  const __m256 take = min ? _mm256_cmp_ps(v, acc, _CMP_LT_OQ) : _mm256_cmp_ps(v, acc, _CMP_GT_OQ);
  const __m256 unordered = _mm256_cmp_ps(acc, v, _CMP_UNORD_Q);
  const __m256 r = _mm256_blendv_ps(acc, v, take);
  return _mm256_blendv_ps(r, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()), unordered);
}
__attribute__((target("avx512f,avx2,fma"))) inline __m512 MaxMin16(__m512 acc, __m512 v, bool min) {
  const __mmask16 take =
      min ? _mm512_cmp_ps_mask(v, acc, _CMP_LT_OQ) : _mm512_cmp_ps_mask(v, acc, _CMP_GT_OQ);
  const __mmask16 unordered = _mm512_cmp_ps_mask(acc, v, _CMP_UNORD_Q);
  const __m512 r = _mm512_mask_mov_ps(acc, take, v);
  return _mm512_mask_mov_ps(r, unordered, _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN()));
}

__attribute__((target("avx2,fma"))) int64_t ReduceBlockAvx2(const ReduceParams& reduce,
                                                            const float* x, int64_t c,
                                                            int64_t pixels, int64_t c0, int64_t c1,
                                                            float* y) {
  int64_t ch = c0;
  if (reduce.kind == ReduceKind::kSum || reduce.kind == ReduceKind::kMean) {
    for (; ch + 8 <= c1; ch += 8) {
      __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
      for (int64_t p = 0; p < pixels; ++p) {
        const __m256 v = _mm256_loadu_ps(x + p * c + ch);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
      }
      alignas(32) double sums[8];
      _mm256_store_pd(sums, lo);
      _mm256_store_pd(sums + 4, hi);
      for (int i = 0; i < 8; ++i)
        y[ch + i] = ReduceSumResult<float>(reduce.kind, sums[i], reduce.divisors);
    }
    return ch;
  }
  const bool min = reduce.kind == ReduceKind::kMin;
  for (; ch + 8 <= c1; ch += 8) {
    __m256 acc = _mm256_set1_ps(min ? std::numeric_limits<float>::infinity()
                                    : -std::numeric_limits<float>::infinity());
    for (int64_t p = 0; p < pixels; ++p) acc = MaxMin8(acc, _mm256_loadu_ps(x + p * c + ch), min);
    _mm256_storeu_ps(y + ch, acc);
  }
  return ch;
}

__attribute__((target("avx512f,avx2,fma"))) int64_t ReduceBlockAvx512(const ReduceParams& reduce,
                                                                      const float* x, int64_t c,
                                                                      int64_t pixels, int64_t c0,
                                                                      int64_t c1, float* y) {
  if (reduce.kind == ReduceKind::kSum || reduce.kind == ReduceKind::kMean) {
    for (int64_t ch = c0; ch < c1; ch += 16) {
      const int64_t lanes = std::min<int64_t>(16, c1 - ch);
      const __mmask16 m = static_cast<__mmask16>(lanes == 16 ? 0xFFFFu : (1u << lanes) - 1u);
      __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
      for (int64_t p = 0; p < pixels; ++p) {
        const __m512 v = _mm512_maskz_loadu_ps(m, x + p * c + ch);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_add_pd(
            hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
      }
      alignas(64) double sums[16];
      _mm512_store_pd(sums, lo);
      _mm512_store_pd(sums + 8, hi);
      for (int64_t i = 0; i < lanes; ++i) {
        y[ch + i] = ReduceSumResult<float>(reduce.kind, sums[i], reduce.divisors);
      }
    }
    return c1;
  }
  const bool min = reduce.kind == ReduceKind::kMin;
  for (int64_t ch = c0; ch < c1; ch += 16) {
    const __mmask16 m = static_cast<__mmask16>(c1 - ch >= 16 ? 0xFFFFu : (1u << (c1 - ch)) - 1u);
    __m512 acc = _mm512_set1_ps(min ? std::numeric_limits<float>::infinity()
                                    : -std::numeric_limits<float>::infinity());
    for (int64_t p = 0; p < pixels; ++p) {
      acc = MaxMin16(acc, _mm512_maskz_loadu_ps(m, x + p * c + ch), min);
    }
    _mm512_mask_storeu_ps(y + ch, m, acc);
  }
  return c1;
}

// Channels per work unit of channels-last RunReduce.
constexpr int64_t kReduceBlock = 64;

}  // namespace

void RunBatchNorm(const BatchNormParams<float>& norm, const float* x, int64_t items, int64_t c,
                  int64_t h, int64_t w, bool channels_last, const OutputFrame& frame, float* y,
                  Activation activation, const KernelEnv& env) {
  const Isa isa = env.isa;
  const BatchNormRowFn row_fn = BatchNormRowFor(isa);
  const int threads = env.ThreadsFor(static_cast<double>(items * c * h * w), kMinParallelFloats);
  if (!channels_last && h * w > 1) {
    // Planes of h * w values, one parameter set each.
    const int64_t plane = h * w;
    ParallelRanges(items * c, threads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t ch = i % c;
        row_fn(plane, x + i * plane, 0, norm.gamma + ch, norm.beta + ch, norm.mean + ch,
               norm.inv_std + ch, y + i * plane);
        ApplyActivation(isa, activation, y + i * plane, y + i * plane, plane);
      }
    });
    return;
  }
  // Channels-last (or one pixel per item, where both layouts are the same): rows of w pixels.
  const int64_t stride = frame.Stride(c);
  ParallelRanges(items * h, threads, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / h, yy = r % h;
      const float* x_row = x + r * w * c;
      float* y_row = y + frame.Offset(n, yy, 0, h, w, c);
      for (int64_t px = 0; px < w; ++px) {
        float* out = y_row + px * stride;
        row_fn(c, x_row + px * c, 1, norm.gamma, norm.beta, norm.mean, norm.inv_std, out);
        if (stride != c) ApplyActivation(isa, activation, out, out, c);
      }
      if (stride == c) ApplyActivation(isa, activation, y_row, y_row, w * c);
    }
  });
}

void LrnPow075(Isa isa, const float* s, float* p, int64_t n) {
  const int64_t done = isa == Isa::kAvx512 ? Pow075Avx512(s, p, n)
                       : isa == Isa::kAvx2 ? Pow075Avx2(s, p, n)
                                           : 0;
  for (int64_t i = done; i < n; ++i) p[i] = Pow075(s[i]);
}

int64_t LrnScratchFloats(const LrnParams<float>& lrn, int64_t c) {
  return 2 * c + 2 * std::min<int64_t>(lrn.n / 2, c);
}

void RunLrn(const LrnParams<float>& lrn, const float* x, int64_t items, int64_t h, int64_t w,
            int64_t c, const OutputFrame& frame, float* y, const KernelEnv& env) {
  if (c == 0) return;
  // Channel j's taps are j - n/2 .. j + n/2. The reference adds alpha * 0 once for the taps before
  // channel 0 (if any) and once for those after channel c - 1, and fma(alpha, 0, s) is idempotent:
  // so half = min(n / 2, c) taps, over squares with `half` zeros on each side, give its result (for
  // n / 2 >= c every channel then sees a zero tap, all c channels in order, a zero tap).
  const theano_scalar::ConstantPow<float> pow(lrn.beta);
  LrnPixelArgs args;
  args.c = c;
  args.half = std::min<int64_t>(lrn.n / 2, c);
  args.alpha = lrn.alpha;
  args.k = lrn.k;
  args.pow = &pow;
  args.pow_kind = lrn.beta == 0.75f  ? LrnPowKind::k075
                  : lrn.beta == 1.0f ? LrnPowKind::kIdentity
                  : lrn.beta == 0.5f ? LrnPowKind::kSqrt
                                     : LrnPowKind::kOther;
  const Isa isa = env.isa;
  const int64_t stride = frame.Stride(c);
  const int64_t taps = 2 * args.half + 1;
  const int threads =
      env.ThreadsFor(static_cast<double>((2 * taps + 12) * items * h * w * c), kMinParallelFlops);
  ParallelRanges(items * h, threads, [&](int64_t begin, int64_t end) {
    const int64_t sq_size = c + 2 * args.half;
    float* scratch = env.Scratch(LrnScratchFloats(lrn, c));
    LrnPixelArgs a = args;
    a.sq = scratch;
    a.scale = scratch + sq_size;
    std::fill(a.sq, a.sq + a.half, 0.0f);
    std::fill(a.sq + a.half + c, a.sq + sq_size, 0.0f);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / h, yy = r % h;
      const float* x_row = x + r * w * c;
      float* y_row = y + frame.Offset(n, yy, 0, h, w, c);
      for (int64_t px = 0; px < w; ++px) {
        switch (isa) {
          case Isa::kAvx512:
            LrnPixelAvx512(a, x_row + px * c, y_row + px * stride);
            break;
          case Isa::kAvx2:
            LrnPixelAvx2(a, x_row + px * c, y_row + px * stride);
            break;
          case Isa::kPortable:
            LrnPixelPortable(a, x_row + px * c, y_row + px * stride);
            break;
        }
      }
    }
  });
}

void RunReduce(const ReduceParams& reduce, const float* x, int64_t items, int64_t c, int64_t pixels,
               bool channels_last, float* y, const KernelEnv& env) {
  const int threads = env.ThreadsFor(static_cast<double>(items * c * pixels), kMinParallelFloats);
  if (!channels_last || c == 1) {
    ParallelRanges(items * c, threads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const float* plane = x + i * pixels;
        y[i] = ReduceValues<float>(
            reduce.kind, pixels, [plane](int64_t p) { return plane[p]; }, reduce.divisors);
      }
    });
    return;
  }
  const int64_t blocks = (c + kReduceBlock - 1) / kReduceBlock;
  ParallelRanges(items * blocks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n = u / blocks;
      const int64_t c0 = (u % blocks) * kReduceBlock, c1 = std::min(c, c0 + kReduceBlock);
      const float* xn = x + n * pixels * c;
      float* yn = y + n * c;
      const int64_t done =
          env.isa == Isa::kAvx512 ? ReduceBlockAvx512(reduce, xn, c, pixels, c0, c1, yn)
          : env.isa == Isa::kAvx2 ? ReduceBlockAvx2(reduce, xn, c, pixels, c0, c1, yn)
                                  : c0;
      for (int64_t ch = done; ch < c1; ++ch) {
        yn[ch] = ReduceValues<float>(
            reduce.kind, pixels, [xn, c, ch](int64_t p) { return xn[p * c + ch]; },
            reduce.divisors);
      }
    }
  });
}

namespace {

// The max (or min) of each group of n (P if P > 0) consecutive floats: theano_scalar::Maximum
// (Minimum) from -inf (+inf), which gives the first value back, then over the others in turn.
// The same function without theano_scalar's nested selects, which the compiler turns into
// branches that random data mispredicts half the time (a maxout of a 28x28x96 conv at batch 8 took
// 0.70 ms that way, 0.04 ms this way): Maximum(a, v) is v > a ? v : a unless either is NaN, and
// then the quiet NaN. (P a constant: unrolled.)
template <int P, bool kMax>
void MaxOrMinGroups(const float* x, int64_t groups, int64_t n, float* y) {
  if (P > 0) n = P;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t o = 0; o < groups; ++o) {
    const float* g = x + o * n;
    float acc = g[0];
    bool any_nan = std::isnan(acc);
    for (int64_t k = 1; k < n; ++k) {
      const float v = g[k];
      acc = (kMax ? v > acc : v < acc) ? v : acc;
      any_nan |= std::isnan(v);
    }
    y[o] = any_nan ? nan : acc;
  }
}

}  // namespace

void ReduceGroups(const ReduceParams& reduce, const float* x, int64_t groups, int64_t n, float* y) {
  const bool max = reduce.kind == ReduceKind::kMax;
  if (n > 0 && (max || reduce.kind == ReduceKind::kMin)) {
    switch (n) {
      case 2:
        return max ? MaxOrMinGroups<2, true>(x, groups, n, y)
                   : MaxOrMinGroups<2, false>(x, groups, n, y);
      case 4:
        return max ? MaxOrMinGroups<4, true>(x, groups, n, y)
                   : MaxOrMinGroups<4, false>(x, groups, n, y);
      default:
        return max ? MaxOrMinGroups<0, true>(x, groups, n, y)
                   : MaxOrMinGroups<0, false>(x, groups, n, y);
    }
  }
  for (int64_t o = 0; o < groups; ++o) {
    const float* g = x + o * n;
    y[o] = ReduceValues<float>(
        reduce.kind, n, [g](int64_t k) { return g[k]; }, reduce.divisors);
  }
}

void RunAxisReduce(const ReduceParams& reduce, const float* x, int64_t items, int64_t outer,
                   int64_t n, int64_t inner, float* y, const KernelEnv& env) {
  const int64_t rows = items * outer;
  const int threads = env.ThreadsFor(static_cast<double>(rows * n * inner), kMinParallelFloats);
  ParallelRanges(rows, threads, [&](int64_t begin, int64_t end) {
    if (inner == 1) {
      ReduceGroups(reduce, x + begin * n, end - begin, n, y + begin);
      return;
    }
    for (int64_t r = begin; r < end; ++r) {
      const float* block = x + r * n * inner;
      for (int64_t i = 0; i < inner; ++i) {
        y[r * inner + i] = ReduceValues<float>(
            reduce.kind, n, [block, i, inner](int64_t j) { return block[j * inner + i]; },
            reduce.divisors);
      }
    }
  });
}

void RunSoftmax(const float* x, int64_t rows, int64_t cols, bool log, float* y,
                const KernelEnv& env) {
  if (cols == 0) return;
  // Max, subtract, exp (~10), add, scale per element: the reference layer's Flops.
  const int threads = env.ThreadsFor(14.0 * static_cast<double>(rows * cols), kMinParallelFlops);
  ParallelRanges(rows, threads, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) SoftmaxRow(x + r * cols, cols, log, y + r * cols);
  });
}

}  // namespace fast
}  // namespace theano_serving

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
