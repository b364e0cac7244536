// CPU feature checks for kernels that ship an AVX2+FMA copy next to the portable one. Both copies
// compute identical results (the AVX2 copy only widens vectors and turns std::fma into one
// instruction); the check picks the faster one the CPU can run.
#ifndef THEANO_SERVING_CORE_CPU_H_
#define THEANO_SERVING_CORE_CPU_H_

namespace theano_serving {

// True if the CPU has AVX2 and FMA (x86-64 Haswell / Zen and later). Cached after the first call.
inline bool HasAvx2Fma() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_CPU_H_
