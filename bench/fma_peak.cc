#include "bench/fma_peak.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>

namespace theano_serving::bench {
namespace {

// 12 independent accumulator chains: enough to cover the FMA latency (4 cycles) on both FMA
// pipes of Zen 3 / Haswell-class cores. Returns a value the caller keeps, so nothing is elided.
__attribute__((target("avx2,fma"))) float FmaLoop(int64_t iterations) {
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = _mm256_set1_ps(1.1f), a2 = _mm256_set1_ps(1.2f);
  __m256 a3 = _mm256_set1_ps(1.3f), a4 = _mm256_set1_ps(1.4f), a5 = _mm256_set1_ps(1.5f);
  __m256 a6 = _mm256_set1_ps(1.6f), a7 = _mm256_set1_ps(1.7f), a8 = _mm256_set1_ps(1.8f);
  __m256 a9 = _mm256_set1_ps(1.9f), a10 = _mm256_set1_ps(2.0f), a11 = _mm256_set1_ps(2.1f);
  for (int64_t i = 0; i < iterations; ++i) {
    a0 = _mm256_fmadd_ps(a0, m, c);
    a1 = _mm256_fmadd_ps(a1, m, c);
    a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c);
    a4 = _mm256_fmadd_ps(a4, m, c);
    a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c);
    a7 = _mm256_fmadd_ps(a7, m, c);
    a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c);
    a10 = _mm256_fmadd_ps(a10, m, c);
    a11 = _mm256_fmadd_ps(a11, m, c);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

constexpr double kFlopsPerIteration = 12 * 8 * 2;

}  // namespace

double MeasureFmaPeakGflops(int threads, double seconds) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0.0;
  using Clock = std::chrono::steady_clock;
  // Calibrate on one thread, then run `threads` copies for the target time.
  int64_t iterations = 1 << 20;
  volatile float sink = 0.0f;
  for (;;) {
    const auto t0 = Clock::now();
    sink = sink + FmaLoop(iterations);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0.05) {
      iterations = static_cast<int64_t>(static_cast<double>(iterations) * seconds / dt) + 1;
      break;
    }
    iterations *= 2;
  }
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {  // best of 3: the machine is shared
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
    { sink = sink + FmaLoop(iterations); }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    const double gflops = kFlopsPerIteration * static_cast<double>(iterations) * threads / dt / 1e9;
    if (gflops > best) best = gflops;
  }
  return best;
}

}  // namespace theano_serving::bench
