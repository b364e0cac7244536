// Vectorised float32 transcendental functions for the fast engine's epilogues. Each agrees with
// the libm function the reference engine calls (std::tanh, std::exp; Theano's sigmoid with its
// C code's cut-offs) within a few ulp — far inside the golden tolerance (atol 1e-5, rtol 1e-4),
// not bit for bit. AVX-512F where the CPU has it (HasAvx512() in core/cpu.h), else AVX2+FMA
// (HasAvx2Fma()), else the libm loop; or the instruction set the caller names. The AVX2 code is the
// 8-lane Exp8 / Tanh8 / Sigmoid8 of core/fast/vmath_avx2.h (measured accuracy and algorithms
// documented there), the AVX-512 code the 16-lane Exp16 / Tanh16 / Sigmoid16 of
// core/fast/vmath_avx512.h: the same algorithms, bit-identical results, so the AVX-512 and AVX2
// paths agree bit for bit and both agree with libm within the bounds of vmath_avx2.h. Kernels can
// call the per-vector functions directly to fuse an epilogue. Arrays: any n >= 0, unaligned
// pointers, y == x allowed; nothing past n is touched.
#ifndef THEANO_SERVING_CORE_FAST_VMATH_H_
#define THEANO_SERVING_CORE_FAST_VMATH_H_

#include <cstdint>

#include "core/cpu.h"

namespace theano_serving {
namespace fast {

// y[i] = tanh(x[i]), i < n. x and y may be the same array.
void Tanh(const float* x, float* y, int64_t n);
// y[i] = exp(x[i]) (0 below about -103.9, +inf above about 88.7, NaN stays NaN).
void Exp(const float* x, float* y, int64_t n);
// y[i] = Theano's sigmoid: 0 below -88, 1 above 15, 1 / (1 + exp(-x)) between.
void Sigmoid(const float* x, float* y, int64_t n);

// The same with the instruction set given (the fast engine's kernels pass their plan's; the
// functions above use DefaultIsa()). `isa` must be one this CPU runs.
void Tanh(Isa isa, const float* x, float* y, int64_t n);
void Exp(Isa isa, const float* x, float* y, int64_t n);
void Sigmoid(Isa isa, const float* x, float* y, int64_t n);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_VMATH_H_
