// CPU feature checks for kernels that ship an AVX2+FMA copy next to the portable one. Both copies
// compute identical results (the AVX2 copy only widens vectors and turns std::fma into one
// instruction, and core/ builds with -ffp-contract=off); the check picks the faster one the CPU
// can run.
#ifndef THEANO_SERVING_CORE_CPU_H_
#define THEANO_SERVING_CORE_CPU_H_

#include <atomic>

namespace theano_serving {

// Tests set this to run the portable copies on any CPU (differential tests of the two copies).
inline std::atomic<bool>& ForcePortableKernels() {
  static std::atomic<bool> force{false};
  return force;
}

// True if the CPU has AVX2 and FMA (x86-64 Haswell / Zen and later) and the portable kernels are
// not forced. The CPU check is cached after the first call.
inline bool HasAvx2Fma() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && !ForcePortableKernels().load(std::memory_order_relaxed);
#else
  return false;
#endif
}

// Tests set this to run the fast engine's AVX2 kernels on an AVX-512 CPU.
inline std::atomic<bool>& ForceNoAvx512() {
  static std::atomic<bool> force{false};
  return force;
}

// True if the CPU also has AVX-512F (and HasAvx2Fma()), unless forced off: the fast engine's
// 16-lane kernels.
inline bool HasAvx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx512f");
  return has && HasAvx2Fma() && !ForceNoAvx512().load(std::memory_order_relaxed);
#else
  return false;
#endif
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_CPU_H_
