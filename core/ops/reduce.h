// Reductions over non-batch axes: T.sum, T.mean, T.max, T.min. See docs/THEANO_SEMANTICS.md.
#ifndef THEANO_SERVING_CORE_OPS_REDUCE_H_
#define THEANO_SERVING_CORE_OPS_REDUCE_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/layer.h"
#include "core/lowering.h"
#include "core/ops/theano_scalar.h"
#include "core/tensor.h"

namespace theano_serving {

// The op names MakeReduce accepts, sorted: max, mean, min, sum.
const std::vector<std::string>& ReduceOps();

// op is one of ReduceOps(); attrs axis (required: an int or a list of ints, negative counting from
// the end; never the batch axis 0) and keepdims (false); no parameters.
// Validates attributes and parameters; InvalidArgument naming the layer and the values otherwise.
template <typename T>
absl::StatusOr<LayerPtr<T>> MakeReduce(LayerSpec spec, std::vector<Tensor<T>> params);

// The arithmetic of one output, shared by the reference op and the fast engine's global pooling
// (core/fast/norm.cc), so that both compute it with the same code:
//  * sum: the values accumulated in double (Theano's acc_dtype for float32 and float64), in order,
//    starting from 0, then cast to T: ReduceSumResult(kind, sum, divisors) finishes it;
//  * mean: that sum in T, then divided in T by each of `divisors` in turn ((s / n_a) / n_b: the
//    reduced axes' sizes in the order the op names them);
//  * max / min: theano_scalar::Maximum / Minimum from -inf / +inf (NaN if any value is NaN).
template <typename T>
inline T ReduceSumResult(ReduceKind kind, double sum, absl::Span<const int64_t> divisors) {
  T s = static_cast<T>(sum);
  if (kind == ReduceKind::kMean) {
    for (int64_t d : divisors) s = s / static_cast<T>(d);
  }
  return s;
}

// One output: the reduction of the n values at(0), at(1), ..., at(n - 1), in that order.
template <typename T, typename At>
inline T ReduceValues(ReduceKind kind, int64_t n, const At& at,
                      absl::Span<const int64_t> divisors) {
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean: {
      double acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(at(i));
      return ReduceSumResult<T>(kind, acc, divisors);
    }
    case ReduceKind::kMax: {
      T acc = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) acc = theano_scalar::Maximum(acc, at(i));
      return acc;
    }
    case ReduceKind::kMin: {
      T acc = std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) acc = theano_scalar::Minimum(acc, at(i));
      return acc;
    }
  }
  return T(0);
}

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_OPS_REDUCE_H_
