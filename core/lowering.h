// Lowering: what a layer tells the fast engine (core/fast) about itself, for given input shapes.
// Each op's attributes are parsed and validated once, by the op (core/ops/); the fast engine never
// re-reads model.json. A layer that returns LoweredKind::kNone runs its reference Run() inside the
// fast plan.
#ifndef THEANO_SERVING_CORE_LOWERING_H_
#define THEANO_SERVING_CORE_LOWERING_H_

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/shape.h"
#include "core/tensor.h"

namespace theano_serving {

// One batched, grouped 2-D cross-correlation: conv2d (CorrMM) and conv2d_legacy (ConvOp) after
// filter flipping and padding have been resolved (docs/THEANO_SEMANTICS.md).
struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t in_h = 0;
  int64_t in_w = 0;
  int64_t out_channels = 0;
  int64_t kh = 0;
  int64_t kw = 0;
  int64_t groups = 1;
  int64_t pad_top = 0;
  int64_t pad_left = 0;
  int64_t stride_h = 1;
  int64_t stride_w = 1;
  int64_t dil_h = 1;
  int64_t dil_w = 1;
  int64_t out_h = 0;
  int64_t out_w = 0;
};

struct PoolConfig {
  std::array<int64_t, 2> ws = {1, 1};
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> pad = {0, 0};
  bool ignore_border = false;
  PoolMode mode = PoolMode::kMax;
};

enum class LoweredKind {
  kNone,     // No fast kernel: run the reference layer.
  kConv,     // conv: NCHW input of `conv`'s geometry, `weights` (O, C/G, kh, kw) correlation order.
  kPool,     // pool: pool_2d over the last two axes of a 4-D input.
  kBiasAdd,  // bias_add along `axis` (resolved, >= 0) with `bias`.
  kElementwise,  // an element-wise function: `activation`, and `apply` = the reference function.
  kDense,        // dot(x, weights) + bias, x 2-D (rows, n_in), weights (n_in, n_out).
  kFlatten,      // flatten to `flatten_ndim` axes (a reshape).
  kAdd,          // element-wise sum of same-shaped inputs, left to right.
  kBatchNorm,    // batch_norm_inv_std per channel (axis 1): `norm`.
  kLrn,          // Lasagne's LRN across the channels of an (N, C, H, W) input: `lrn`.
  kConcat,       // concatenation of same-rank inputs along `axis` (resolved, >= 1).
  kReduce,       // `reduce` over every axis after axis 1 of an input of rank >= 3 (global pooling).
  kSoftmax,      // softmax of a 2-D input over its rows (log_softmax with `log_softmax`).
  kReshape,      // the same elements in C order under the output shape (a view).
  kDimshuffle,   // axes permuted: output axis j is input axis pattern[j] (-1: a new axis of 1).
  kSlice,        // `slice`: elements start, start + step, ... (length of them) along one axis.
  kPad,          // `pad_width` (before, after) for the last pad_width.size() axes, `pad_value`.
  kAxisReduce,   // `reduce` over the one axis `axis` (>= 1; kReduce covers global pooling).
  kScale,        // x * scale[c] along axis 1: `scale` holds C values (Lasagne's ScaleLayer).
  kParamArith,   // x + p (x * p with `multiply`): p = `scale` broadcast to one item's shape
                 // (broadcast_param).
};

// A Subtensor on one axis (>= 1): `length` elements from `start`, `step` apart; with
// `drop_axis` (a constant index) the axis is removed from the output.
struct SliceParams {
  int64_t axis = 1, start = 0, step = 1, length = 0;
  bool drop_axis = false;
};

// batch_norm_inv_std's parameters, C values each, for channel c along axis 1:
// y = fma((x - mean[c]) * gamma[c], inv_std[c], beta[c]) in T (docs/THEANO_SEMANTICS.md).
template <typename T>
struct BatchNormParams {
  const T* gamma = nullptr;
  const T* beta = nullptr;
  const T* mean = nullptr;
  const T* inv_std = nullptr;
};

// local_response_normalization's attributes, already in T.
template <typename T>
struct LrnParams {
  T alpha = 0, k = 0, beta = 0;
  int64_t n = 1;
};

// A reduction over every axis after axis 1: per (item, channel), the elements in C order of the
// reduced axes; sum and mean accumulate in double, mean then divides by each of `divisors` in turn
// (the reduced axes' sizes in the order the op names them: Theano's chain of true_divs).
enum class ReduceKind { kSum, kMean, kMax, kMin };
struct ReduceParams {
  ReduceKind kind = ReduceKind::kSum;
  std::vector<int64_t> divisors;
};

// Element-wise functions the fast kernels compute in their epilogues.
enum class Activation {
  kOther,    // Only the reference `apply`.
  kRelu,     // relu with alpha 0: 0.5 * (x + |x|), exactly as the reference.
  kTanh,     // fast::Tanh (a few ulp from std::tanh).
  kSigmoid,  // fast::Sigmoid (Theano's cut-offs; a few ulp from the reference).
};

template <typename T>
struct Lowering {
  LoweredKind kind = LoweredKind::kNone;
  ConvGeometry conv;
  PoolConfig pool;
  const Tensor<T>* weights = nullptr;
  const Tensor<T>* bias = nullptr;
  const Tensor<T>* scale = nullptr;
  bool multiply = false;
  // kParamArith: writes `scale` broadcast to `item` (batch 1), in C order.
  std::function<void(const Shape& item, T* y)> broadcast_param;
  int64_t axis = 0;
  int64_t flatten_ndim = 0;
  Activation activation = Activation::kOther;
  std::function<void(const T* x, T* y, int64_t n)> apply;
  // kElementwise relu with alpha != 0 (Lasagne's LeakyRectify): `apply` computes
  // fma(leaky_f2, |x|, leaky_f1 * x), f1 = 0.5 * (1 + alpha) and f2 = 0.5 * (1 - alpha) in T.
  bool leaky = false;
  T leaky_f1 = T(0), leaky_f2 = T(0);
  BatchNormParams<T> norm;
  LrnParams<T> lrn;
  ReduceParams reduce;
  bool log_softmax = false;
  std::vector<int64_t> pattern;
  SliceParams slice;
  std::vector<std::array<int64_t, 2>> pad_width;
  T pad_value = 0;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_LOWERING_H_
