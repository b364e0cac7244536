#include "core/ops/join.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// No practical limit on the number of joined inputs; > 1000 makes ExpectInputCount say "at least
// 2".
constexpr int kManyInputs = 1 << 20;

// T.concatenate(inputs, axis): every other dimension must agree.
template <typename T>
class ConcatenateLayer : public Layer<T> {
 public:
  ConcatenateLayer(LayerSpec spec, int64_t axis) : Layer<T>(std::move(spec)), axis_(axis) {}

  int min_inputs() const override { return 2; }
  int max_inputs() const override { return kManyInputs; }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& first = inputs[0];
    const int64_t rank = static_cast<int64_t>(first.size());
    const int64_t axis = axis_ < 0 && axis_ >= -rank ? axis_ + rank : axis_;  // No overflow.
    if (axis < 0 || axis >= rank) {
      return LayerError(this->spec(), absl::StrCat("axis ", axis_, " is out of range for input 0 ",
                                                   ShapeToString(first), " of rank ", rank));
    }
    Shape out = first;
    for (size_t i = 1; i < inputs.size(); ++i) {
      const Shape& s = inputs[i];
      bool ok = s.size() == first.size();
      for (int64_t d = 0; ok && d < rank; ++d) {
        ok = d == axis || s[static_cast<size_t>(d)] == first[static_cast<size_t>(d)];
      }
      if (!ok) {
        return LayerError(this->spec(),
                          absl::StrCat("input ", i, " has shape ", ShapeToString(s),
                                       " but input 0 has ", ShapeToString(first),
                                       "; they must agree on every axis except axis ", axis));
      }
      out[static_cast<size_t>(axis)] += s[static_cast<size_t>(axis)];
    }
    return out;
  }

  // The fast engine's concatenation: NHWC images along the channels written in place by their
  // producers where it can (core/fast/passes.h, FoldConcats), otherwise copies.
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.empty()) return l;
    const int64_t rank = static_cast<int64_t>(inputs[0].size());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 1 || axis >= rank) return l;
    l.kind = LoweredKind::kConcat;
    l.axis = axis;
    return l;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Shape& out_shape = output->shape();
    const int rank = output->rank();
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t outer = 1;
    int64_t inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= out_shape[static_cast<size_t>(d)];
    const int64_t out_row = out_shape[static_cast<size_t>(axis)] * inner;
    T* y = output->data();
    int64_t offset = 0;  // Where this input's block starts within an output row.
    for (const Tensor<T>* in : inputs) {
      const int64_t row = in->dim(static_cast<int>(axis)) * inner;
      const T* x = in->data();
      for (int64_t o = 0; o < outer; ++o) {
        std::copy(x + o * row, x + (o + 1) * row, y + o * out_row + offset);
      }
      offset += row;
    }
  }

 private:
  int64_t axis_;  // As given; negative counts from the end.
};

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConcatenate(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  ASSIGN_OR_RETURN(int64_t axis, reader.Int("axis", 1));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new ConcatenateLayer<T>(std::move(spec), axis));
}
template absl::StatusOr<LayerPtr<float>> MakeConcatenate(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConcatenate(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
