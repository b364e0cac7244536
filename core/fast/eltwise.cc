#include "core/fast/eltwise.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/fast/thread_team.h"
#include "core/fast/vmath.h"
#include "core/ops/theano_scalar.h"

namespace theano_serving {
namespace fast {
namespace {

// theano_scalar::LeakyRelu per lane, fma(f2, |x|, f1 * x), 8 or 16 at a time; returns how many
// it did.
__attribute__((target("avx2,fma"))) int64_t LeakyReluAvx2(float f1, float f2, const float* x,
                                                          float* y, int64_t n) {
  const __m256 a = _mm256_set1_ps(f1), b = _mm256_set1_ps(f2), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(b, _mm256_andnot_ps(sign, r), _mm256_mul_ps(a, r)));
  }
  return i;
}
__attribute__((target("avx512f"))) int64_t LeakyReluAvx512(float f1, float f2, const float* x,
                                                           float* y, int64_t n) {
  const __m512 a = _mm512_set1_ps(f1), b = _mm512_set1_ps(f2);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 r = _mm512_loadu_ps(x + i);
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(b, _mm512_abs_ps(r), _mm512_mul_ps(a, r)));
  }
  return i;
}

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

void ApplyActivation(Isa isa, Activation activation, const float* x, float* y, int64_t n) {
  switch (activation) {
    case Activation::kOther:
      if (x != y) std::copy(x, x + n, y);
      return;
    case Activation::kRelu: {
      // The reference's 0.5 * (x + |x|), bit for bit.
      const int64_t done = isa >= Isa::kAvx2 ? ReluAvx2(x, y, n) : 0;
      for (int64_t i = done; i < n; ++i) y[i] = 0.5f * (x[i] + std::fabs(x[i]));
      return;
    }
    case Activation::kTanh:
      Tanh(isa, x, y, n);
      return;
    case Activation::kSigmoid:
      Sigmoid(isa, x, y, n);
      return;
  }
}

void LeakyRelu(Isa isa, float f1, float f2, const float* x, float* y, int64_t n) {
  const int64_t done = isa == Isa::kAvx512 ? LeakyReluAvx512(f1, f2, x, y, n)
                       : isa == Isa::kAvx2 ? LeakyReluAvx2(f1, f2, x, y, n)
                                           : 0;
  for (int64_t i = done; i < n; ++i) y[i] = theano_scalar::LeakyRelu(x[i], f1, f2);
}

void ChannelOp(const float* x, const float* values, bool multiply, int64_t pixels, int64_t channels,
               float* y, const KernelEnv& env) {
  const int threads = env.ThreadsFor(static_cast<double>(pixels * channels), kMinParallelFloats);
  ParallelRanges(pixels, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* xp = x + p * channels;
      float* yp = y + p * channels;
      if (multiply) {
        for (int64_t ch = 0; ch < channels; ++ch) yp[ch] = xp[ch] * values[ch];
      } else {
        for (int64_t ch = 0; ch < channels; ++ch) yp[ch] = xp[ch] + values[ch];
      }
    }
  });
}

void AddArrays(absl::Span<const float* const> inputs, int64_t n, float* y, Activation activation,
               const KernelEnv& env) {
  // The sum order per element is the reference's.
  ForLineRanges(n, static_cast<double>(n * static_cast<int64_t>(inputs.size())), env,
                [&](int64_t i0, int64_t i1) {
                  if (y != inputs[0]) std::copy(inputs[0] + i0, inputs[0] + i1, y + i0);
                  for (size_t k = 1; k < inputs.size(); ++k) {
                    const float* x = inputs[k];
                    for (int64_t i = i0; i < i1; ++i) y[i] += x[i];
                  }
                  ApplyActivation(env.isa, activation, y + i0, y + i0, i1 - i0);
                });
}

}  // namespace fast
}  // namespace theano_serving
