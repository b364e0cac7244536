// Per-vector AVX2+FMA float32 exp / tanh / sigmoid (8 lanes), for kernels that fuse an epilogue
// into their own AVX2 loop instead of making a second pass with fast::Tanh etc. (core/fast/vmath.h,
// which runs these same functions over arrays). Call them only from functions compiled for AVX2+FMA
// (`__attribute__((target("avx2,fma")))`, after checking HasAvx2Fma() in core/cpu.h): they are
// inline and carry that target, so a call from a function without it fails to compile rather than
// running AVX2 code on a CPU that lacks it.
//
// Accuracy against glibc 2.36's expf / tanhf on float32, measured exhaustively over every float
// of the range ("ulp" = floats apart; tests/unit/vmath_test.cc re-checks on dense sweeps):
//   Exp8: <= 1 ulp over [-103.9, 88.7], normal and subnormal results alike (1.01 ulp from the
//     exact value); +inf above ln(FLT_MAX) = 88.72, 0 below -103.97. Subnormal results are
//     rounded, not flushed: the 2^n scale is two multiplications and only the second one rounds.
//   Tanh8: <= 2 ulp and |error| <= 1.2e-7 over [-20, 20] (1.33 ulp from the exact value);
//     exactly +-1 for |x| > 9.1; tanh(+-0) = +-0.
//   Sigmoid8: Theano's cut-offs exactly (0 for x < -88, 1 for x > 15), 1 / (1 + exp(-x)) between
//     with a true division; |error| <= 1.2e-7 (2.5 ulp from the exact value, 4 ulp from libm's
//     own 1 / (1 + expf(-x)) near x = -16.8 where the result is ~5e-8).
// NaN in gives NaN out in every function. Results are not bit-identical to libm, so the AVX2 and
// portable (libm) paths of fast::Tanh etc. agree within these bounds, not bit for bit. If the
// thread runs with FTZ/DAZ set, subnormal inputs and results become 0 (nothing here sets them).
// core/fast/vmath_avx512.h holds 16-lane copies (Exp16 / Tanh16 / Sigmoid16) that give
// bit-identical results: change both together (tests/unit/vmath_test.cc checks the identity).
//
// Algorithms (the coefficients are Cephes' published minimax polynomials for expf and tanhf):
//   exp(x):  n = round(x * log2(e)), r = x - n * ln2 (Cody-Waite: ln2 as 0.693359375 plus a
//            correction, both subtracted with FMA), exp(r) = 1 + r + r^2 * P5(r) on
//            |r| <= ln2 / 2, times 2^(n/2) * 2^(n - n/2) built from exponent bits.
//   tanh(x): a = |x|; a < 0.625: a + a^3 * P4(a^2) (no cancellation near 0);
//            otherwise 1 - 2 / (exp(2a) + 1); a clamped to 9.1 first (the result is already 1.0f);
//            the sign of x is OR-ed back in.
#ifndef THEANO_SERVING_CORE_FAST_VMATH_AVX2_H_
#define THEANO_SERVING_CORE_FAST_VMATH_AVX2_H_

#if defined(__x86_64__) && defined(__GNUC__)
#define THEANO_SERVING_HAVE_VMATH_AVX2 1

#include <immintrin.h>

namespace theano_serving {
namespace fast {
namespace vmath_internal {

// exp(x) for x already in [-104, 88.8] or NaN (NaN propagates through the arithmetic).
inline __attribute__((target("avx2,fma"))) __m256 ExpCore8(__m256 x) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n * ln2 with ln2 = 0.693359375 - 2.12194440e-4 (Cody-Waite); |r| <= 0.347.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  // 2^n for n in [-150, 128] as 2^n1 * 2^n2, n1 = n >> 1 in [-75, 64], n2 = n - n1 in [-75, 64]:
  // both are normal floats, the first product is exact, so overflow to +inf and rounding into the
  // subnormal range happen once, in the second product. (NaN lanes give garbage n, but p is NaN.)
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

}  // namespace vmath_internal

// exp(x): +inf above 88.72 (and for +inf), 0 below -103.97 (and for -inf), NaN for NaN.
inline __attribute__((target("avx2,fma"))) __m256 Exp8(__m256 x) {
  // max/min return their second operand when one is NaN, so x goes second to keep NaN.
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(88.8f), x);
  return vmath_internal::ExpCore8(x);
}

// tanh(x), odd (tanh(-0) = -0), exactly +-1 for |x| > 9.1, NaN for NaN.
inline __attribute__((target("avx2,fma"))) __m256 Tanh8(__m256 x) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 sign = _mm256_and_ps(x, sign_mask);
  __m256 a = _mm256_andnot_ps(sign_mask, x);
  a = _mm256_min_ps(_mm256_set1_ps(9.1f), a);  // NaN stays NaN (second operand)
  // |x| < 0.625: a + a * a^2 * P4(a^2).
  const __m256 z = _mm256_mul_ps(a, a);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), a, a);
  // |x| >= 0.625: 1 - 2 / (exp(2a) + 1), 2a in [1.25, 18.2] (no clamping needed in exp).
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = vmath_internal::ExpCore8(_mm256_add_ps(a, a));
  const __m256 large =
      _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  const __m256 is_small = _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm256_or_ps(_mm256_blendv_ps(large, small, is_small), sign);
}

// Theano's sigmoid: 0 for x < -88, 1 for x > 15, 1 / (1 + exp(-x)) between, NaN for NaN.
inline __attribute__((target("avx2,fma"))) __m256 Sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = Exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)));
  __m256 y = _mm256_div_ps(one, _mm256_add_ps(one, e));
  y = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-88.0f), _CMP_LT_OQ), y);
  return _mm256_blendv_ps(y, one, _mm256_cmp_ps(x, _mm256_set1_ps(15.0f), _CMP_GT_OQ));
}

}  // namespace fast
}  // namespace theano_serving

#endif  // defined(__x86_64__) && defined(__GNUC__)
#endif  // THEANO_SERVING_CORE_FAST_VMATH_AVX2_H_
