#include "core/ops/reduce.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/ops/theano_scalar.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

using Kind = ReduceKind;

struct ReduceInfo {
  const char* name;
  Kind kind;
};

constexpr ReduceInfo kReduces[] = {
    {"max", Kind::kMax}, {"mean", Kind::kMean}, {"min", Kind::kMin}, {"sum", Kind::kSum}};

// T.sum / T.mean / T.max / T.min over `axes` (as given: negative counts from the end); one output's
// arithmetic is ReduceValues (reduce.h):
//  * sum: Theano's Sum accumulates in its acc_dtype (CAReduceDtype._acc_dtype: float64 for
//    float32 input, float64 for float64) and casts the result to the input's dtype.
//  * mean (theano/tensor/basic.py): that sum, in T, then one true_div per axis, in the order the
//    axes were given, by the axis size cast to T: (s / n_a) / n_b. (Theano's mul canonicalizer
//    leaves a chain of divisions by non-constant shapes as it is.)
//  * max, min: CAReduce{maximum / minimum} from -inf / +inf with the scalar ops' C code: exact, NaN
//    if any element is NaN. A zero-size reduced axis is an error (Theano: "Input of
//    CAReduce{maximum} has zero-size on axis ...").
template <typename T>
class ReduceLayer : public Layer<T> {
 public:
  ReduceLayer(LayerSpec spec, Kind kind, std::vector<int64_t> axes, bool keepdims)
      : Layer<T>(std::move(spec)), kind_(kind), axes_(std::move(axes)), keepdims_(keepdims) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ResolveAxes(in));
    std::vector<bool> reduced(in.size(), false);
    for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
    Shape out;
    for (size_t d = 0; d < in.size(); ++d) {
      if (!reduced[d]) {
        out.push_back(in[d]);
        continue;
      }
      if (in[d] == 0 && (kind_ == Kind::kMax || kind_ == Kind::kMin)) {
        return LayerError(this->spec(),
                          absl::StrCat(this->spec().op, " over axis ", d, " of size 0 (input ",
                                       ShapeToString(in), "): the reduction has no identity"));
      }
      if (keepdims_) out.push_back(1);
    }
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const Shape& shape = in.shape();
    const std::vector<int64_t> axes = *ResolveAxes(shape);  // OutputShape accepted the shape.
    const size_t rank = shape.size();
    std::vector<bool> reduced(rank, false);
    for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
    std::vector<int64_t> stride(rank, 1);
    for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * shape[d];
    // Offsets of one output's reduced elements, in C order of the reduced axes.
    std::vector<int64_t> offsets = {0};
    for (size_t d = 0; d < rank; ++d) {
      if (!reduced[d]) continue;
      std::vector<int64_t> next;
      next.reserve(offsets.size() * static_cast<size_t>(shape[d]));
      for (int64_t o : offsets) {
        for (int64_t i = 0; i < shape[d]; ++i) next.push_back(o + i * stride[d]);
      }
      offsets = std::move(next);
    }
    // Kept axes, outermost first: the output's elements in C order.
    std::vector<int64_t> kept_size, kept_stride;
    for (size_t d = 0; d < rank; ++d) {
      if (reduced[d]) continue;
      kept_size.push_back(shape[d]);
      kept_stride.push_back(stride[d]);
    }
    // The mean's divisors: the reduced axes' sizes in the order given.
    std::vector<int64_t> divisors;
    for (int64_t a : axes) divisors.push_back(shape[static_cast<size_t>(a)]);
    const int64_t num_out = output->size();
    std::vector<int64_t> index(kept_size.size(), 0);
    int64_t base = 0;
    const T* x = in.data();
    T* y = output->data();
    for (int64_t o = 0; o < num_out; ++o) {
      const T* xb = x + base;
      y[o] = ReduceValues<T>(
          kind_, static_cast<int64_t>(offsets.size()),
          [&](int64_t i) { return xb[offsets[static_cast<size_t>(i)]]; }, divisors);
      for (size_t d = kept_size.size(); d-- > 0;) {
        base += kept_stride[d];
        if (++index[d] < kept_size[d]) break;
        base -= kept_stride[d] * kept_size[d];
        index[d] = 0;
      }
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    return inputs.empty() ? 0 : NumElements(inputs[0]);
  }

  // The fast engine's global pooling: a reduction over every axis after axis 1 (Lasagne's
  // GlobalPoolLayer, mean over flatten(ndim=3)'s axis 2; Theano's mean over axes (2, 3)); or a
  // reduction over one axis.
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1 || inputs[0].size() < 2) return l;
    absl::StatusOr<std::vector<int64_t>> axes = ResolveAxes(inputs[0]);
    if (!axes.ok()) return l;
    bool global = inputs[0].size() >= 3 && axes->size() == inputs[0].size() - 2;
    for (int64_t a : *axes) global = global && a >= 2;
    if (global) {
      l.kind = LoweredKind::kReduce;
    } else if (axes->size() == 1) {
      // One axis (maxout: FeaturePoolLayer's max over axis 2 of (N, C / p, p, H, W)).
      l.kind = LoweredKind::kAxisReduce;
      l.axis = (*axes)[0];
    } else {
      return l;
    }
    switch (kind_) {
      case Kind::kSum:
        l.reduce.kind = ReduceKind::kSum;
        break;
      case Kind::kMean:
        l.reduce.kind = ReduceKind::kMean;
        for (int64_t a : *axes) l.reduce.divisors.push_back(inputs[0][static_cast<size_t>(a)]);
        break;
      case Kind::kMax:
        l.reduce.kind = ReduceKind::kMax;
        break;
      case Kind::kMin:
        l.reduce.kind = ReduceKind::kMin;
        break;
    }
    return l;
  }

 private:
  // The axes resolved against the input's rank, in the order given; InvalidArgument for an axis
  // out of range, the batch axis, or an axis named twice.
  absl::StatusOr<std::vector<int64_t>> ResolveAxes(const Shape& in) const {
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> axes;
    for (int64_t a : axes_) {
      const int64_t r = a < 0 && a >= -rank ? a + rank : a;
      if (r < 0 || r >= rank) {
        return LayerError(this->spec(), absl::StrCat("axis ", a, " is out of range for input ",
                                                     ShapeToString(in), " of rank ", rank));
      }
      if (r == 0) {
        return LayerError(this->spec(),
                          absl::StrCat("axis ", a, " is axis 0 of input ", ShapeToString(in),
                                       ", the batch axis, which is never reduced"));
      }
      if (std::find(axes.begin(), axes.end(), r) != axes.end()) {
        return LayerError(this->spec(), absl::StrCat("axis ", r, " of input ", ShapeToString(in),
                                                     " is named twice in axis (",
                                                     absl::StrJoin(axes_, ", "), ")"));
      }
      axes.push_back(r);
    }
    return axes;
  }

  Kind kind_;
  std::vector<int64_t> axes_;  // As given.
  bool keepdims_;
};

}  // namespace

const std::vector<std::string>& ReduceOps() {
  static const auto* ops = [] {
    auto* v = new std::vector<std::string>;
    for (const ReduceInfo& info : kReduces) v->push_back(info.name);
    return v;
  }();
  return *ops;
}

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeReduce(LayerSpec spec, std::vector<Tensor<T>> params) {
  const ReduceInfo* info = nullptr;
  for (const ReduceInfo& candidate : kReduces) {
    if (spec.op == candidate.name) info = &candidate;
  }
  if (info == nullptr) {
    return LayerError(spec, absl::StrCat("\"", spec.op, "\" is not a reduction"));
  }
  AttrReader reader(spec);
  std::vector<int64_t> axes;
  const nlohmann::json* axis = reader.Raw("axis");
  if (axis == nullptr) {
    return reader.Error(
        "attribute axis is required (an axis or a list of axes; the batch axis 0 is never "
        "reduced)");
  }
  const nlohmann::json list = axis->is_array() ? *axis : nlohmann::json::array({*axis});
  for (const nlohmann::json& a : list) {
    if (!a.is_number_integer()) {
      return reader.Error(absl::StrCat(
          "attribute axis must be an integer or a list of integers, got ", axis->dump()));
    }
    axes.push_back(a.get<int64_t>());
  }
  if (axes.empty()) {
    return reader.Error("attribute axis must name at least one axis, got []");
  }
  for (int64_t a : axes) {
    if (a == 0) {
      return reader.Error(absl::StrCat("attribute axis ", axis->dump(),
                                       " includes 0, the batch axis, which is never reduced"));
    }
  }
  ASSIGN_OR_RETURN(bool keepdims, reader.Bool("keepdims", false));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new ReduceLayer<T>(std::move(spec), info->kind, std::move(axes), keepdims));
}
template absl::StatusOr<LayerPtr<float>> MakeReduce(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeReduce(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
