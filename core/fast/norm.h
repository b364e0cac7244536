// The fast engine's normalization and reduction kernels: batch_norm_inv_std per channel, Lasagne's
// LRN across channels, global pooling (a reduction over every pixel of each channel) and softmax.
// Each follows its reference op (core/ops/normalization.cc, reduce.cc, softmax.cc) operation for
// operation, vectorised over channels, so that all are bit-identical to the reference except the
// LRN with beta = 0.75 (RunLrn: at most 2 ulp). Where the logic is a row function, it is the
// reference's own: BatchNormRowImpl (core/ops/normalization_row.h), ReduceValues /
// ReduceSumResult (core/ops/reduce.h), SoftmaxRow (core/ops/softmax.h). Instruction set:
// env.isa (AVX-512F, AVX2+FMA or portable; every copy gives the same bits). Threads: ParallelRanges
// over env.ThreadsFor (kMinParallelFloats, kMinParallelFlops for LRN and softmax); the results do
// not depend on the thread count. Tested against the reference layers by
// tests/unit/fast_norm_test.cc.
#ifndef THEANO_SERVING_CORE_FAST_NORM_H_
#define THEANO_SERVING_CORE_FAST_NORM_H_

#include <cstdint>

#include "core/fast/kernel_common.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

// y = fma((x - mean) * gamma, inv_std, beta) per channel, then `activation`. Channels-last: items
// of h x w pixels of c channels, the output in `frame` (x == y allowed when the frame is plain).
// Channels-first: items of c planes of h * w values (frame must be plain; x == y allowed).
// Bit-identical to the reference layer followed by the activation's ApplyActivation.
void RunBatchNorm(const BatchNormParams<float>& norm, const float* x, int64_t items, int64_t c,
                  int64_t h, int64_t w, bool channels_last, const OutputFrame& frame, float* y,
                  Activation activation, const KernelEnv& env);

// local_response_normalization of NHWC images (items, h, w, c), the output in `frame` (x == y
// allowed when the frame is plain): per pixel and channel, sq = x * x, scale = k then
// fma(alpha, sq[c'], scale) for c' from c - n/2 to c + n/2 in order (zero outside the channels),
// y = x / scale ** beta. scale is the reference's bit for bit. The power:
//  * beta = 0.75 (Lasagne's default): LrnPow075, vectorised: at most 1 ulp from the reference's
//    powf, so y = x / p is at most 2 ulp from the reference's (|y| * 2.4e-7: far inside the golden
//    tolerance, atol 1e-5 / rtol 1e-4);
//  * beta = 1 (identity) and 0.5 (sqrt), vectorised, and any other beta (theano_scalar::ConstantPow
//    per element, as the reference): bit-identical to the reference.
void RunLrn(const LrnParams<float>& lrn, const float* x, int64_t items, int64_t h, int64_t w,
            int64_t c, const OutputFrame& frame, float* y, const KernelEnv& env);

// n floats s -> s ** 0.75 as RunLrn computes it: sqrt(s) * sqrt(sqrt(s)) in double, rounded once to
// float (+inf for -inf, as powf). The double value is within 4 * 2^-53 relative of s ** 0.75, so it
// rounds to the correctly rounded float except within that distance of a rounding boundary: at most
// 1 ulp from powf (glibc's powf is within 0.82 ulp). Every instruction set's copy gives the same
// bits (IEEE sqrt, mul and conversions only). Measured: 22314 of 70.4 million floats (every 61st
// bit pattern) differ from glibc 2.36's powf, each by 1 ulp (tests/unit/fast_norm_test.cc).
void LrnPow075(Isa isa, const float* s, float* p, int64_t n);

// The reduction of `reduce` over the `pixels` values of each of c channels per item: channels-last
// input (pixel-major, c floats per pixel) or channels-first (c planes of `pixels`); output c floats
// per item. Sum and mean in double in pixel order, then the mean's divisions in float
// (reduce.divisors in turn); max and min as theano_scalar::Maximum / Minimum (the canonical quiet
// NaN if any value is NaN). Bit-identical to the reference's sum / mean / max / min over axes 2, 3,
// ... of (items, c, ...) in C order, which is pixel order.
void RunReduce(const ReduceParams& reduce, const float* x, int64_t items, int64_t c, int64_t pixels,
               bool channels_last, float* y, const KernelEnv& env);

// softmax (log_softmax with `log`) of `rows` rows of `cols` floats (x == y allowed), the
// reference's formula (SoftmaxRow): row max in float, expf, the sum in double. Bit-identical.
void RunSoftmax(const float* x, int64_t rows, int64_t cols, bool log, float* y,
                const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_NORM_H_
