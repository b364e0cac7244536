#include "core/fast/vmath.h"

#include <cmath>

#include "core/cpu.h"
#include "core/fast/vmath_avx2.h"
#include "core/fast/vmath_avx512.h"

namespace theano_serving {
namespace fast {
namespace {

// The portable copies: the libm loops the reference engine runs (core/ops/elemwise.cc).
void TanhPortable(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void ExpPortable(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void SigmoidPortable(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v < -88.0f ? 0.0f : v > 15.0f ? 1.0f : 1.0f / (1.0f + std::exp(-v));
  }
}

#ifdef THEANO_SERVING_HAVE_VMATH_AVX2

// Applies F (one of the 8-lane functions of vmath_avx2.h) to x[0, n) → y[0, n): 8 floats per step
// with unaligned loads, the last n % 8 with a masked load / store (masked-off lanes are neither
// read nor written, so nothing past the end is touched). Each block is loaded before it is stored,
// so y == x works.
template <__m256 (*F)(__m256)>
__attribute__((target("avx2,fma"))) void Apply8(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i)));
  const int64_t rest = n - i;
  if (rest > 0) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y + i, mask, F(_mm256_maskload_ps(x + i, mask)));
  }
}

__attribute__((target("avx2,fma"))) void TanhAvx2(const float* x, float* y, int64_t n) {
  Apply8<Tanh8>(x, y, n);
}
__attribute__((target("avx2,fma"))) void ExpAvx2(const float* x, float* y, int64_t n) {
  Apply8<Exp8>(x, y, n);
}
__attribute__((target("avx2,fma"))) void SigmoidAvx2(const float* x, float* y, int64_t n) {
  Apply8<Sigmoid8>(x, y, n);
}

#endif  // THEANO_SERVING_HAVE_VMATH_AVX2

#ifdef THEANO_SERVING_HAVE_VMATH_AVX512

// Apply8 with 16 lanes (F one of the functions of vmath_avx512.h): the last n % 16 floats go
// through a masked load / store (__mmask16; masked-off lanes are neither read nor written, and
// their faults are suppressed, so nothing past the end is touched).
template <__m512 (*F)(__m512)>
__attribute__((target("avx512f"))) void Apply16(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, F(_mm512_loadu_ps(x + i)));
  const int64_t rest = n - i;
  if (rest > 0) {
    const __mmask16 mask = static_cast<__mmask16>((1u << rest) - 1);
    _mm512_mask_storeu_ps(y + i, mask, F(_mm512_maskz_loadu_ps(mask, x + i)));
  }
}

__attribute__((target("avx512f"))) void TanhAvx512(const float* x, float* y, int64_t n) {
  Apply16<Tanh16>(x, y, n);
}
__attribute__((target("avx512f"))) void ExpAvx512(const float* x, float* y, int64_t n) {
  Apply16<Exp16>(x, y, n);
}
__attribute__((target("avx512f"))) void SigmoidAvx512(const float* x, float* y, int64_t n) {
  Apply16<Sigmoid16>(x, y, n);
}

#endif  // THEANO_SERVING_HAVE_VMATH_AVX512

}  // namespace

void Tanh(Isa isa, const float* x, float* y, int64_t n) {
#ifdef THEANO_SERVING_HAVE_VMATH_AVX512
  if (isa == Isa::kAvx512) return TanhAvx512(x, y, n);
#endif
#ifdef THEANO_SERVING_HAVE_VMATH_AVX2
  if (isa >= Isa::kAvx2) return TanhAvx2(x, y, n);
#endif
  TanhPortable(x, y, n);
}

void Exp(Isa isa, const float* x, float* y, int64_t n) {
#ifdef THEANO_SERVING_HAVE_VMATH_AVX512
  if (isa == Isa::kAvx512) return ExpAvx512(x, y, n);
#endif
#ifdef THEANO_SERVING_HAVE_VMATH_AVX2
  if (isa >= Isa::kAvx2) return ExpAvx2(x, y, n);
#endif
  ExpPortable(x, y, n);
}

void Sigmoid(Isa isa, const float* x, float* y, int64_t n) {
#ifdef THEANO_SERVING_HAVE_VMATH_AVX512
  if (isa == Isa::kAvx512) return SigmoidAvx512(x, y, n);
#endif
#ifdef THEANO_SERVING_HAVE_VMATH_AVX2
  if (isa >= Isa::kAvx2) return SigmoidAvx2(x, y, n);
#endif
  SigmoidPortable(x, y, n);
}

void Tanh(const float* x, float* y, int64_t n) { Tanh(DefaultIsa(), x, y, n); }
void Exp(const float* x, float* y, int64_t n) { Exp(DefaultIsa(), x, y, n); }
void Sigmoid(const float* x, float* y, int64_t n) { Sigmoid(DefaultIsa(), x, y, n); }

}  // namespace fast
}  // namespace theano_serving
