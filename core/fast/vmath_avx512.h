// Per-vector AVX-512F float32 exp / tanh / sigmoid (16 lanes): the 16-lane copies of Exp8 / Tanh8
// / Sigmoid8 (core/fast/vmath_avx2.h), for AVX-512 kernels that fuse an epilogue into their own
// loop, and the code fast::Exp etc. (core/fast/vmath.h) run on CPUs with AVX-512F. Call them only
// from functions compiled for AVX-512F (`__attribute__((target("avx512f")))`, after checking
// HasAvx512() in core/cpu.h): they are inline and carry that target, so a call from a function
// without it fails to compile rather than running AVX-512 code on a CPU that lacks it. Only
// AVX-512F instructions are used (no DQ: the bitwise float operations go through the integer
// and / or / xor / andnot of AVX-512F).
//
// Same algorithms, coefficients and operation order as the AVX2 versions: every step is one
// correctly rounded IEEE operation (mul, add, sub, div, fma, round-to-nearest-integer) applied to
// the same operands in the same order, and the selections (blend, min / max with NaN, the sign
// bits) are the same, so Exp16 / Tanh16 / Sigmoid16 give bit-identical results to Exp8 / Tanh8 /
// Sigmoid8 lane for lane, NaN payloads included (checked exhaustively over all 2^32 inputs, and by
// tests/unit/vmath_test.cc on a sweep of all bit patterns). Their accuracy is therefore exactly
// that documented in vmath_avx2.h (exp <= 1 ulp from glibc's expf, tanh <= 2 ulp and |error| <=
// 1.2e-7, sigmoid |error| <= 1.2e-7 with Theano's cut-offs). Bit identity needs the callers' file
// built without a*b+c contraction (-ffp-contract=off, as core/ is): GCC implements
// _mm512_mul_ps / _mm512_add_ps (and their 256-bit forms) as plain vector arithmetic, which the
// compiler may otherwise fuse into FMAs differently in the two copies.
#ifndef THEANO_SERVING_CORE_FAST_VMATH_AVX512_H_
#define THEANO_SERVING_CORE_FAST_VMATH_AVX512_H_

#if defined(__x86_64__) && defined(__GNUC__)
#define THEANO_SERVING_HAVE_VMATH_AVX512 1

#include <immintrin.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside avx512fintrin.h wherever an AVX-512
// intrinsic that passes _mm512_undefined_*() as its unused merge source (min, max, andnot,
// cvtps_epi32, ...) is inlined (GCC bug 105593, fixed in GCC 13). The warning is attributed to
// these inline functions, so silencing it here covers every caller.
#if defined(__GNUC__) && !defined(__clang__)  // (Clang has no such warning group.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace theano_serving {
namespace fast {
namespace vmath_internal {

// Bitwise operations on floats with AVX-512F only (_mm512_and_ps etc. need AVX-512DQ).
inline __attribute__((target("avx512f"))) __m512 And16(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
// ~a & b.
inline __attribute__((target("avx512f"))) __m512 AndNot16(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
inline __attribute__((target("avx512f"))) __m512 Or16(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
inline __attribute__((target("avx512f"))) __m512 Xor16(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}

// exp(x) for x already in [-104, 88.8] or NaN (NaN propagates through the arithmetic).
// ExpCore8 of vmath_avx2.h, 16 lanes.
inline __attribute__((target("avx512f"))) __m512 ExpCore16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n * ln2 with ln2 = 0.693359375 - 2.12194440e-4 (Cody-Waite); |r| <= 0.347.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  // 2^n = 2^n1 * 2^n2 with n1 = n >> 1, n2 = n - n1, both normal (see ExpCore8): only the second
  // product rounds (overflow to +inf, rounding into the subnormal range).
  const __m512i ni = _mm512_cvtps_epi32(n);
  const __m512i n1 = _mm512_srai_epi32(ni, 1);
  const __m512i n2 = _mm512_sub_epi32(ni, n1);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

}  // namespace vmath_internal

// exp(x): +inf above 88.72 (and for +inf), 0 below -103.97 (and for -inf), NaN for NaN.
inline __attribute__((target("avx512f"))) __m512 Exp16(__m512 x) {
  // vmaxps / vminps return their second operand when one is NaN, so x goes second to keep NaN.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.8f), x);
  return vmath_internal::ExpCore16(x);
}

// tanh(x), odd (tanh(-0) = -0), exactly +-1 for |x| > 9.1, NaN for NaN.
inline __attribute__((target("avx512f"))) __m512 Tanh16(__m512 x) {
  using vmath_internal::And16;
  using vmath_internal::AndNot16;
  using vmath_internal::Or16;
  const __m512 sign_mask = _mm512_set1_ps(-0.0f);
  const __m512 sign = And16(x, sign_mask);
  __m512 a = AndNot16(sign_mask, x);
  a = _mm512_min_ps(_mm512_set1_ps(9.1f), a);  // NaN stays NaN (second operand)
  // |x| < 0.625: a + a * a^2 * P4(a^2).
  const __m512 z = _mm512_mul_ps(a, a);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a);
  // |x| >= 0.625: 1 - 2 / (exp(2a) + 1), 2a in [1.25, 18.2] (no clamping needed in exp).
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = vmath_internal::ExpCore16(_mm512_add_ps(a, a));
  const __m512 large =
      _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return Or16(_mm512_mask_blend_ps(is_small, large, small), sign);
}

// Theano's sigmoid: 0 for x < -88, 1 for x > 15, 1 / (1 + exp(-x)) between, NaN for NaN.
inline __attribute__((target("avx512f"))) __m512 Sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = Exp16(vmath_internal::Xor16(x, _mm512_set1_ps(-0.0f)));
  __m512 y = _mm512_div_ps(one, _mm512_add_ps(one, e));
  // +0 where x < -88 (the AVX2 copy's andnot with the compare mask), 1 where x > 15.
  y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-88.0f), _CMP_NLT_UQ), y);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(15.0f), _CMP_GT_OQ), y, one);
}

}  // namespace fast
}  // namespace theano_serving

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // defined(__x86_64__) && defined(__GNUC__)
#endif  // THEANO_SERVING_CORE_FAST_VMATH_AVX512_H_
