// CPU instruction sets. Kernels that ship an AVX2+FMA or AVX-512 copy next to their portable one
// are compiled with target attributes (`__attribute__((target("avx2,fma")))`,
// `target("avx512f")`) in ordinary files, and the copy that runs is chosen at run time:
//
// * The fast engine (core/fast) takes its instruction set from FastOptions::isa, once per compiled
//   graph (default: CpuIsa(), the widest this CPU runs); nothing here changes it.
// * The reference kernels' AVX2 copies (core/ops) and the array functions of core/fast/vmath.h
//   called without an Isa ask HasAvx2Fma() / HasAvx512(), which tests can lower process-wide with
//   ForcePortableKernels() / ForceNoAvx512() to compare the copies. The reference copies compute
//   identical results (the AVX2 copy only widens vectors and turns std::fma into one instruction,
//   and core/ builds with -ffp-contract=off).
#ifndef THEANO_SERVING_CORE_CPU_H_
#define THEANO_SERVING_CORE_CPU_H_

#include <atomic>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace theano_serving {

// The instruction sets kernels are written for, each a superset of the one before.
enum class Isa {
  kPortable = 0,  // Plain C++ (the compiler's baseline x86-64 / any CPU).
  kAvx2 = 1,      // AVX2 + FMA (x86-64 Haswell / Zen and later).
  kAvx512 = 2,    // AVX-512F (with AVX2 + FMA).
};

// "portable", "avx2" or "avx512".
inline const char* IsaString(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

// IsaString's inverse: "avx512", "avx2" or "portable" (exactly) → the Isa; InvalidArgument
// `isa must be avx512, avx2 or portable, got "NAME"` otherwise (programs prefix "--"). Whether
// this CPU runs it is checked where options are (CheckFastOptions, Model::SetEngine).
absl::StatusOr<Isa> ParseIsa(absl::string_view name);

// The widest instruction set this CPU runs (checked once).
inline Isa CpuIsa() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const Isa isa = !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                             ? Isa::kPortable
                         : __builtin_cpu_supports("avx512f") ? Isa::kAvx512
                                                             : Isa::kAvx2;
  return isa;
#else
  return Isa::kPortable;
#endif
}

// Tests set this to run the portable copies of the reference kernels and of vmath's ISA-less
// functions on any CPU (differential tests of the copies). Not read by the fast engine.
inline std::atomic<bool>& ForcePortableKernels() {
  static std::atomic<bool> force{false};
  return force;
}

// Tests set this to run vmath's ISA-less functions' AVX2 copies on an AVX-512 CPU. Not read by the
// fast engine.
inline std::atomic<bool>& ForceNoAvx512() {
  static std::atomic<bool> force{false};
  return force;
}

// True if the CPU has AVX2 and FMA and the portable kernels are not forced.
inline bool HasAvx2Fma() {
  return CpuIsa() >= Isa::kAvx2 && !ForcePortableKernels().load(std::memory_order_relaxed);
}

// True if the CPU also has AVX-512F (and HasAvx2Fma()), unless forced off.
inline bool HasAvx512() {
  return CpuIsa() == Isa::kAvx512 && HasAvx2Fma() &&
         !ForceNoAvx512().load(std::memory_order_relaxed);
}

// HasAvx512() / HasAvx2Fma() as an Isa: what the kernels outside the fast engine run.
inline Isa DefaultIsa() {
  return HasAvx512() ? Isa::kAvx512 : HasAvx2Fma() ? Isa::kAvx2 : Isa::kPortable;
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_CPU_H_
