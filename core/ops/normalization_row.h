// batch_norm_inv_std's arithmetic on one row, shared by the reference op
// (core/ops/normalization.cc) and the fast engine's kernel (core/fast/norm.cc), so that both
// compute it with the same code.
#ifndef THEANO_SERVING_CORE_OPS_NORMALIZATION_ROW_H_
#define THEANO_SERVING_CORE_OPS_NORMALIZATION_ROW_H_

#include <cmath>
#include <cstdint>

namespace theano_serving {

// One row of batch_norm_inv_std: y[j] = fma((x[j] - mean[p]) * gamma[p], inv_std[p], beta[p]) with
// p = j * p_stride (0: one parameter set for the row; 1: one per element, e.g. the channels of an
// NHWC pixel). x == y allowed. std::fma is exactly rounded everywhere, so the result does not
// depend on the instruction set: callers wrap this in copies with target attributes (AVX2+FMA,
// AVX-512F) where it becomes vector FMAs, and the portable copy calls libm's fma. (No __restrict on
// x and y: GCC's run-time alias check still takes the vector loop when x == y.)
template <typename T>
inline void BatchNormRowImpl(int64_t n, const T* x, int64_t p_stride, const T* gamma, const T* beta,
                             const T* mean, const T* inv_std, T* y) {
  if (p_stride == 0) {
    const T g = gamma[0], b = beta[0], m = mean[0], s = inv_std[0];
    for (int64_t j = 0; j < n; ++j) y[j] = std::fma((x[j] - m) * g, s, b);
    return;
  }
  if (p_stride == 1) {
    for (int64_t j = 0; j < n; ++j)
      y[j] = std::fma((x[j] - mean[j]) * gamma[j], inv_std[j], beta[j]);
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t p = j * p_stride;
    y[j] = std::fma((x[j] - mean[p]) * gamma[p], inv_std[p], beta[p]);
  }
}

// BatchNormRowImpl compiled for AVX2+FMA: what the reference op runs on such CPUs, and the fast
// kernel's AVX2 copy.
__attribute__((target("avx2,fma"))) inline void BatchNormRowAvx2(
    int64_t n, const float* x, int64_t p_stride, const float* gamma, const float* beta,
    const float* mean, const float* inv_std, float* y) {
  BatchNormRowImpl(n, x, p_stride, gamma, beta, mean, inv_std, y);
}
__attribute__((target("avx2,fma"))) inline void BatchNormRowAvx2(
    int64_t n, const double* x, int64_t p_stride, const double* gamma, const double* beta,
    const double* mean, const double* inv_std, double* y) {
  BatchNormRowImpl(n, x, p_stride, gamma, beta, mean, inv_std, y);
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_NORMALIZATION_ROW_H_
