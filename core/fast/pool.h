// pool_2d in the fast engine's two layouts: channels-last (RunPool: 16 / 8 channels per vector)
// and planar (RunPoolPlanar: 16 output columns per vector, AVX-512). Both are bit-identical to the
// reference pool (core/ops/pool.cc): the same window rule, order of comparisons (NaN included)
// and of sums.
#ifndef THEANO_SERVING_CORE_FAST_POOL_H_
#define THEANO_SERVING_CORE_FAST_POOL_H_

#include <cstdint>
#include <vector>

#include "core/fast/kernel_common.h"
#include "core/fast/planar_conv.h"
#include "core/lowering.h"
#include "core/shape.h"

namespace theano_serving {
namespace fast {

// pool_2d over an NHWC input (batch, h, w, c) into (batch, out_h, out_w, c) in `frame`, then
// `activation`.
void RunPool(const float* input, int64_t batch, int64_t h, int64_t w, int64_t c,
             const PoolConfig& config, int64_t out_h, int64_t out_w, const OutputFrame& frame,
             float* output, Activation activation, const KernelEnv& env);

// pool_2d over NCHW planes (batch * channels planes of h x w into out_h x out_w), then
// `activation`. Prepared once per layer (each output row's window and divisor; the columns whose
// window is never clipped run 16 at a time).
struct PlanarPool {
  int64_t h = 0, w = 0, out_h = 0, out_w = 0;
  PoolConfig config;
  std::vector<PoolWindow> wy;  // Per output row.
  std::vector<float> divisor;  // Per output row, for the unclipped columns.
  int64_t x_lo = 0, x_hi = 0;  // Unclipped columns (none for column strides above 2).
  bool all_vector = false;     // Every output column of every row unclipped.
};
PlanarPool PreparePlanarPool(int64_t h, int64_t w, const PoolConfig& config, int64_t out_h,
                             int64_t out_w);
// With `shift_into` (whose c, h and w are the pool's output), the output is written as the
// shifted copies ShiftForPlanar would make of it, for a planar conv that reads it alone.
void RunPoolPlanar(const PlanarPool& pool, const float* input, int64_t planes, float* output,
                   Activation activation, const ShiftGeometry* shift_into, const KernelEnv& env);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_POOL_H_
