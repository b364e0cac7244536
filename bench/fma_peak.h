// The machine's measured FP32 peak: a loop of independent AVX2 FMAs (no memory traffic), on one
// thread or on every OpenMP thread at once. The "% of peak" columns divide by these figures.
#ifndef THEANO_SERVING_BENCH_FMA_PEAK_H_
#define THEANO_SERVING_BENCH_FMA_PEAK_H_

namespace theano_serving::bench {

// GFLOP/s of `threads` threads each running the FMA loop for about `seconds` (a multiply-add
// counts 2). Returns 0 when the CPU has no AVX2 + FMA.
double MeasureFmaPeakGflops(int threads, double seconds);

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_FMA_PEAK_H_
