#include "core/layer_factory.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/ops/arith.h"
#include "core/ops/batch_norm.h"
#include "core/ops/conv2d.h"
#include "core/ops/dense.h"
#include "core/ops/elemwise.h"
#include "core/ops/join.h"
#include "core/ops/normalization.h"
#include "core/ops/pool.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/ops/softmax.h"

namespace theano_serving {
namespace {

template <typename T>
using MakeFn = absl::StatusOr<LayerPtr<T>> (*)(LayerSpec, std::vector<Tensor<T>>);

template <typename T>
const std::map<std::string, MakeFn<T>, std::less<>>& Registry() {
  static const auto* registry = [] {
    auto* r = new std::map<std::string, MakeFn<T>, std::less<>>{
        {"conv2d", &MakeConv2d<T>},
        {"conv2d_legacy", &MakeConv2dLegacy<T>},
        {"signal_conv2d", &MakeSignalConv2d<T>},
        {"pool_2d", &MakePool2d<T>},
        {"bias_add", &MakeBiasAdd<T>},
        {"softmax", &MakeSoftmax<T>},
        {"log_softmax", &MakeLogSoftmax<T>},
        {"batch_normalization_test", &MakeBatchNormalizationTest<T>},
        {"dense", &MakeDense<T>},
        {"flatten", &MakeFlatten<T>},
        {"concatenate", &MakeConcatenate<T>},
        {"local_response_normalization", &MakeLocalResponseNormalization<T>},
        {"batch_norm_inv_std", &MakeBatchNormInvStd<T>},
        {"pad", &MakePad<T>},
        {"dimshuffle", &MakeDimshuffle<T>},
        {"reshape", &MakeReshape<T>},
        {"subtensor", &MakeSubtensor<T>},
    };
    for (const std::string& op : ElemwiseOps()) r->emplace(op, &MakeElemwise<T>);
    for (const std::string& op : ArithOps()) r->emplace(op, &MakeArith<T>);
    for (const std::string& op : ReduceOps()) r->emplace(op, &MakeReduce<T>);
    return r;
  }();
  return *registry;
}

}  // namespace

const std::vector<std::string>& KnownOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [name, fn] : Registry<float>()) v->push_back(name);
    return v;
  }();
  return *ops;
}

template <typename T>
absl::StatusOr<LayerPtr<T>> CreateLayer(LayerSpec spec, std::vector<Tensor<T>> params) {
  const auto& registry = Registry<T>();
  auto it = registry.find(spec.op);
  if (it == registry.end()) {
    return LayerError(spec, absl::StrCat("unknown op \"", spec.op,
                                         "\"; known ops: ", absl::StrJoin(KnownOps(), ", ")));
  }
  return it->second(std::move(spec), std::move(params));
}

template absl::StatusOr<LayerPtr<float>> CreateLayer(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> CreateLayer(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
