// theano.tensor.nnet.softmax and logsoftmax. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_SOFTMAX_H_
#define THEANO_SERVING_CORE_OPS_SOFTMAX_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/layer.h"
#include "core/tensor.h"

namespace theano_serving {

// "softmax" over the last axis of a 2-D input (a 1-D input gives shape (1, n)).
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSoftmax(LayerSpec spec, std::vector<Tensor<T>> params);

// "log_softmax", same shapes as softmax.
// Validates attributes and parameters; InvalidArgument naming the layer otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLogSoftmax(LayerSpec spec, std::vector<Tensor<T>> params);

// One row of softmax (log_softmax with `log`) of cols >= 1 values, as the C code of
// theano/tensor/nnet/nnet.py (Theano 1.0.5) computes it: the row maximum in T, exp of (x - max) in
// T (std::exp(float) is expf), the sum in double. x == y allowed (each x[j] is read before y[j] is
// written). The reference op and the fast engine (core/fast/norm.cc) both run this.
template <typename T>
inline void SoftmaxRow(const T* x, int64_t cols, bool log, T* y) {
  T row_max = x[0];
  for (int64_t j = 1; j < cols; ++j) row_max = x[j] > row_max ? x[j] : row_max;
  double sum = 0.0;
  if (log) {
    // LogSoftmax: xdev = (T)(x - max) stored in the output, sum of exp(xdev) in double, then
    // xdev - (T)log(sum) in T.
    for (int64_t j = 0; j < cols; ++j) {
      y[j] = static_cast<T>(x[j] - row_max);
      sum += std::exp(y[j]);
    }
    const T log_sum = static_cast<T>(std::log(sum));
    for (int64_t j = 0; j < cols; ++j) y[j] -= log_sum;
    return;
  }
  // Softmax: e = exp(x - max) in T, summed in double, then e * (1.0 / sum) in double.
  for (int64_t j = 0; j < cols; ++j) {
    const T e = std::exp(static_cast<T>(x[j] - row_max));
    sum += e;
    y[j] = e;
  }
  const double sum_inv = 1.0 / sum;
  for (int64_t j = 0; j < cols; ++j) y[j] = static_cast<T>(y[j] * sum_inv);
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_SOFTMAX_H_
