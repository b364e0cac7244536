// The machine's measured FP32 peak: a loop of independent FMAs (no memory traffic) with 256-bit
// (AVX2) or 512-bit (AVX-512) vectors, on `threads` threads at once. The "% of peak" columns
// divide by the best of the two: a peer such as oneDNN picks AVX-512 kernels where the CPU has
// them, so an AVX2-only peak would understate what the machine can do.
#ifndef THEANO_SERVING_BENCH_FMA_PEAK_H_
#define THEANO_SERVING_BENCH_FMA_PEAK_H_

namespace theano_serving::bench {

enum class VectorIsa { kAvx2, kAvx512 };

// GFLOP/s of `threads` threads each running the FMA loop for about `seconds` (a multiply-add
// counts 2), best of three. Returns 0 when the CPU lacks the ISA (AVX2 + FMA, or AVX512F).
double MeasureFmaPeakGflops(VectorIsa isa, int threads, double seconds);

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_FMA_PEAK_H_
