// The fast engine's normalization and reduction kernels: batch_norm_inv_std per channel, Lasagne's
// LRN across channels, global pooling (a reduction over every pixel of each channel) and softmax.
// Each follows its reference op (core/ops/normalization.cc, reduce.cc, softmax.cc) operation for
// operation, vectorised over channels, so that all are bit-identical to the reference except the
// LRN with beta = 0.75 (RunLrn: at most 5 ulp). Where the logic is a row function, it is the
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

// The scratch RunLrn takes per share (KernelEnv::Scratch) for c channels.
int64_t LrnScratchFloats(const LrnParams<float>& lrn, int64_t c);

// local_response_normalization of NHWC images (items, h, w, c), the output in `frame` (x == y
// allowed when the frame is plain): per pixel and channel, sq = x * x, scale = k then
// fma(alpha, sq[c'], scale) for c' from c - n/2 to c + n/2 in order (zero outside the channels),
// y = x / scale ** beta. scale is the reference's bit for bit. The power:
//  * beta = 0.75 (Lasagne's default): LrnPow075, vectorised: at most 4 ulp from the reference's
//    powf (2 measured), so y = x / p is at most 5 ulp from the reference's (4 measured; |y| * 6e-7
//    at most: far inside the golden tolerance, atol 1e-5 / rtol 1e-4);
//  * beta = 1 (identity) and 0.5 (sqrt), vectorised, and any other beta (theano_scalar::ConstantPow
//    per element, as the reference): bit-identical to the reference.
void RunLrn(const LrnParams<float>& lrn, const float* x, int64_t items, int64_t h, int64_t w,
            int64_t c, const OutputFrame& frame, float* y, const KernelEnv& env);

// n floats s -> s ** 0.75 as RunLrn computes it: r = sqrt(s), then r * sqrt(r), three correctly
// rounded float operations (+inf for -inf, as powf): within 3.5 * 2^-24 relative of s ** 0.75,
// so at most 4 ulp from powf (glibc's powf is within 0.82 ulp). Two float square roots instead of
// two double ones (the first version, within 1 ulp): GoogLeNet's two LRNs 0.71 -> 0.52 ms at
// batch 1. Every instruction set's copy gives the same bits. Measured on every 61st float bit
// pattern: 21% differ from glibc 2.36's powf, by at most 2 ulp (tests/unit/fast_norm_test.cc).
void LrnPow075(Isa isa, const float* s, float* p, int64_t n);

// The reduction of `reduce` over the `pixels` values of each of c channels per item: channels-last
// input (pixel-major, c floats per pixel) or channels-first (c planes of `pixels`); output c floats
// per item. Sum and mean in double in pixel order, then the mean's divisions in float
// (reduce.divisors in turn); max and min as theano_scalar::Maximum / Minimum (the canonical quiet
// NaN if any value is NaN). Bit-identical to the reference's sum / mean / max / min over axes 2, 3,
// ... of (items, c, ...) in C order, which is pixel order.
void RunReduce(const ReduceParams& reduce, const float* x, int64_t items, int64_t c, int64_t pixels,
               bool channels_last, float* y, const KernelEnv& env);

// y[o] = the reduction of the n consecutive floats x[o * n, (o + 1) * n) for o < groups, as the
// reference's ReduceValues gives it (bit-identical): max and min without branches, sum and mean
// through ReduceValues. (Maxout's groups of channels, RunAxisReduce with inner 1.)
void ReduceGroups(const ReduceParams& reduce, const float* x, int64_t groups, int64_t n, float* y);

// A reduction over one axis: per item of x, (outer, n, inner) floats; per item of y, (outer,
// inner), each the reduction of its n values in axis order with the reference's ReduceValues
// (sum and mean in double): bit-identical to the reference's reduction over that axis.
void RunAxisReduce(const ReduceParams& reduce, const float* x, int64_t items, int64_t outer,
                   int64_t n, int64_t inner, float* y, const KernelEnv& env);

// softmax (log_softmax with `log`) of `rows` rows of `cols` floats (x == y allowed), the
// reference's formula (SoftmaxRow): row max in float, expf, the sum in double. Bit-identical.
void RunSoftmax(const float* x, int64_t rows, int64_t cols, bool log, float* y,
                const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_NORM_H_
