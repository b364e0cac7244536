#include "bench/fma_peak.h"

#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstring>

namespace theano_serving::bench {
namespace {

// 12 independent accumulator chains cover the FMA latency (4 cycles) on two FMA pipes. Returns a
// value the caller keeps, so nothing is elided. One loop per vector width, written as a macro
// body so both compile from the same text.
#define TS_FMA_LOOP(VEC, SET1, FMADD, ADD, LANES)                                \
  const VEC m = SET1(0.9999999f), c = SET1(1e-7f);                               \
  VEC a[12];                                                                     \
  for (int k = 0; k < 12; ++k) a[k] = SET1(1.0f + 0.1f * static_cast<float>(k)); \
  for (int64_t i = 0; i < iterations; ++i) {                                     \
    a[0] = FMADD(a[0], m, c);                                                    \
    a[1] = FMADD(a[1], m, c);                                                    \
    a[2] = FMADD(a[2], m, c);                                                    \
    a[3] = FMADD(a[3], m, c);                                                    \
    a[4] = FMADD(a[4], m, c);                                                    \
    a[5] = FMADD(a[5], m, c);                                                    \
    a[6] = FMADD(a[6], m, c);                                                    \
    a[7] = FMADD(a[7], m, c);                                                    \
    a[8] = FMADD(a[8], m, c);                                                    \
    a[9] = FMADD(a[9], m, c);                                                    \
    a[10] = FMADD(a[10], m, c);                                                  \
    a[11] = FMADD(a[11], m, c);                                                  \
  }                                                                              \
  VEC s = a[0];                                                                  \
  for (int k = 1; k < 12; ++k) s = ADD(s, a[k]);                                 \
  alignas(64) float out[LANES];                                                  \
  std::memcpy(out, &s, sizeof(s));                                               \
  return out[0] + out[LANES - 1];

__attribute__((target("avx2,fma"))) float FmaLoopAvx2(int64_t iterations) {
  TS_FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
}

__attribute__((target("avx512f"))) float FmaLoopAvx512(int64_t iterations) {
  TS_FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
}

#undef TS_FMA_LOOP

}  // namespace

double MeasureFmaPeakGflops(VectorIsa isa, int threads, double seconds) {
  const bool avx512 = isa == VectorIsa::kAvx512;
  if (avx512 ? !__builtin_cpu_supports("avx512f")
             : !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    return 0.0;
  }
  float (*loop)(int64_t) = avx512 ? FmaLoopAvx512 : FmaLoopAvx2;
  const double flops_per_iteration = 12.0 * (avx512 ? 16 : 8) * 2;
  using Clock = std::chrono::steady_clock;
  // Calibrate on one thread, then run `threads` copies for the target time.
  int64_t iterations = 1 << 20;
  volatile float sink = 0.0f;
  for (;;) {
    const auto t0 = Clock::now();
    sink = sink + loop(iterations);
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
    { sink = sink + loop(iterations); }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    const double gflops =
        flops_per_iteration * static_cast<double>(iterations) * threads / dt / 1e9;
    if (gflops > best) best = gflops;
  }
  return best;
}

}  // namespace theano_serving::bench
