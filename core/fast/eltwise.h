// Element-wise kernels of the fast engine: activations (also the epilogue of the conv kernels),
// a per-channel bias, and sums. Bit-identical to the reference ops except tanh and sigmoid
// (core/fast/vmath.h: a few ulp).
#ifndef THEANO_SERVING_CORE_FAST_ELTWISE_H_
#define THEANO_SERVING_CORE_FAST_ELTWISE_H_

#include <algorithm>
#include <cstdint>

#include "absl/types/span.h"
#include "core/cpu.h"
#include "core/fast/kernel_common.h"
#include "core/fast/thread_team.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

// Element-wise activation over n floats (x == y allowed) with `isa`'s copy. kOther does nothing.
void ApplyActivation(Isa isa, Activation activation, const float* x, float* y, int64_t n);

// y[i] = theano_scalar::LeakyRelu(x[i], f1, f2) = fma(f2, |x[i]|, f1 * x[i]) for i < n (x == y
// allowed): the reference's relu(x, alpha). Bit-identical: the vector FMA rounds once, as std::fma
// does.
void LeakyRelu(Isa isa, float f1, float f2, const float* x, float* y, int64_t n);

// Runs body(i0, i1) over [0, n) in ranges of whole cache lines (16 floats) over env's threads
// (ThreadsFor `work` floats): for element-wise work, which any split leaves exact.
template <typename F>
void ForLineRanges(int64_t n, double work, const KernelEnv& env, const F& body) {
  const int64_t lines = (n + 15) / 16;
  ParallelRanges(lines, env.ThreadsFor(work, kMinParallelFloats),
                 [&](int64_t begin, int64_t end) { body(begin * 16, std::min(n, end * 16)); });
}

// y[p, c] = x[p, c] + values[c] (with `multiply`: x[p, c] * values[c]) for p < pixels (x == y
// allowed): the reference's one rounding. Exact.
void ChannelOp(const float* x, const float* values, bool multiply, int64_t pixels, int64_t channels,
               float* y, const KernelEnv& env);

// y = x0 + x1 + ... (left to right, as the reference), then `activation`. Exact without one.
void AddArrays(absl::Span<const float* const> inputs, int64_t n, float* y, Activation activation,
               const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_ELTWISE_H_
