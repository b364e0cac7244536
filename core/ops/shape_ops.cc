#include "core/ops/shape_ops.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// C-order element strides of `shape`.
std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
  return s;
}

// Calls f(output index, input offset) for every element of an output of shape `out` in C order,
// where output axis d advances the input offset by in_stride[d].
template <typename F>
void Gather(const Shape& out, const std::vector<int64_t>& in_stride, F f) {
  const int64_t total = NumElements(out);
  if (total == 0) return;
  if (out.empty()) {
    f(0, 0);
    return;
  }
  const size_t rank = out.size();
  const int64_t inner = out[rank - 1];
  const int64_t inner_stride = in_stride[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t base = 0;
  for (int64_t y = 0; y < total; y += inner) {
    for (int64_t j = 0; j < inner; ++j) f(y + j, base + j * inner_stride);
    for (size_t d = rank - 1; d-- > 0;) {
      base += in_stride[d];
      if (++index[d] < out[d]) break;
      base -= in_stride[d] * out[d];
      index[d] = 0;
    }
  }
}

// lasagne.theano_extensions.padding.pad (PadLayer): `value` everywhere, the input copied at offset
// `before` on each padded axis. Output size per padded axis: n + before + after.
template <typename T>
class PadLayer : public Layer<T> {
 public:
  PadLayer(LayerSpec spec, std::vector<std::array<int64_t, 2>> width, T value)
      : Layer<T>(std::move(spec)), width_(std::move(width)), value_(value) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    if (width_.size() >= in.size()) {
      return LayerError(
          this->spec(),
          absl::StrCat("width pads the last ", width_.size(), " axes but input ", ShapeToString(in),
                       " has rank ", in.size(), "; axis 0, the batch axis, is never padded"));
    }
    Shape out = in;
    const size_t first = in.size() - width_.size();
    for (size_t j = 0; j < width_.size(); ++j) {
      int64_t& n = out[first + j];
      if (__builtin_add_overflow(n, width_[j][0], &n) ||
          __builtin_add_overflow(n, width_[j][1], &n)) {
        return LayerError(this->spec(), absl::StrCat("width [", width_[j][0], ", ", width_[j][1],
                                                     "] overflows axis ", first + j, " of input ",
                                                     ShapeToString(in)));
      }
    }
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    T* y = output->data();
    std::fill(y, y + output->size(), value_);
    const Shape& out = output->shape();
    const size_t first = out.size() - width_.size();
    const std::vector<int64_t> out_stride = Strides(out);
    int64_t origin = 0;  // Where the input's first element lands.
    for (size_t j = 0; j < width_.size(); ++j) origin += width_[j][0] * out_stride[first + j];
    const T* x = in.data();
    Gather(in.shape(), out_stride, [&](int64_t i, int64_t o) { y[origin + o] = x[i]; });
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    l.kind = LoweredKind::kPad;
    l.pad_width = width_;
    l.pad_value = value_;
    return l;
  }

 private:
  std::vector<std::array<int64_t, 2>> width_;  // (before, after) for the last width_.size() axes.
  T value_;
};

// Theano's DimShuffle: output axis j is input axis pattern[j], or a new axis of size 1 ("x").
template <typename T>
class DimshuffleLayer : public Layer<T> {
 public:
  // kNewAxis marks "x" in pattern_.
  static constexpr int64_t kNewAxis = -1;

  DimshuffleLayer(LayerSpec spec, std::vector<int64_t> pattern)
      : Layer<T>(std::move(spec)), pattern_(std::move(pattern)) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    Shape out;
    std::vector<bool> used(in.size(), false);
    for (int64_t a : pattern_) {
      if (a == kNewAxis) {
        out.push_back(1);
        continue;
      }
      if (a >= static_cast<int64_t>(in.size())) {
        return LayerError(this->spec(), absl::StrCat("pattern names axis ", a, " but input ",
                                                     ShapeToString(in), " has rank ", in.size()));
      }
      used[static_cast<size_t>(a)] = true;
      out.push_back(in[static_cast<size_t>(a)]);
    }
    for (size_t d = 0; d < in.size(); ++d) {
      if (!used[d] && in[d] != 1) {
        return LayerError(this->spec(),
                          absl::StrCat("pattern drops axis ", d, " of input ", ShapeToString(in),
                                       ", which has size ", in[d],
                                       "; only axes of size 1 (broadcastable) may be dropped"));
      }
    }
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const std::vector<int64_t> in_stride = Strides(in.shape());
    std::vector<int64_t> stride;
    for (int64_t a : pattern_)
      stride.push_back(a == kNewAxis ? 0 : in_stride[static_cast<size_t>(a)]);
    const T* x = in.data();
    T* y = output->data();
    Gather(output->shape(), stride, [&](int64_t i, int64_t o) { y[i] = x[o]; });
  }

  // A pattern that keeps the input's axes in order (adding or dropping axes of size 1) is a
  // reshape; any other permutes.
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    int64_t last = -1;
    bool in_order = true;
    for (int64_t a : pattern_) {
      if (a == kNewAxis) continue;
      in_order = in_order && a > last;
      last = a;
    }
    l.kind = in_order ? LoweredKind::kReshape : LoweredKind::kDimshuffle;
    l.pattern = pattern_;
    return l;
  }

 private:
  std::vector<int64_t> pattern_;
};

// T.reshape / Lasagne's ReshapeLayer: the same elements in C order under another shape.
template <typename T>
class ReshapeLayer : public Layer<T> {
 public:
  // One entry of `shape`: a size, -1 (inferred), or a reference to an input axis.
  struct Entry {
    int64_t size = 0;
    bool infer = false;
    int64_t input_axis = -1;
  };

  ReshapeLayer(LayerSpec spec, std::vector<Entry> shape)
      : Layer<T>(std::move(spec)), shape_(std::move(shape)) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    if (in.empty()) {
      return LayerError(this->spec(), "input must have a batch axis, got a scalar");
    }
    Shape out;
    int64_t known = 1;  // Product of the output's non-batch sizes other than -1.
    int infer_at = -1;
    for (size_t j = 0; j < shape_.size(); ++j) {
      const Entry& e = shape_[j];
      int64_t size = e.size;
      if (e.input_axis >= 0) {
        if (e.input_axis >= static_cast<int64_t>(in.size())) {
          return LayerError(this->spec(), absl::StrCat("shape entry ", j, " refers to axis ",
                                                       e.input_axis, " but input ",
                                                       ShapeToString(in), " has rank ", in.size()));
        }
        size = in[static_cast<size_t>(e.input_axis)];
      } else if (e.infer) {
        infer_at = static_cast<int>(j);
        size = 0;
      }
      out.push_back(size);
      if (j > 0 && !e.infer && __builtin_mul_overflow(known, size, &known)) {
        return LayerError(this->spec(), absl::StrCat("shape ", ShapeDescription(),
                                                     " has more elements than an int64 holds"));
      }
    }
    int64_t rest = 1;  // Product of the input's non-batch sizes.
    for (size_t d = 1; d < in.size(); ++d) rest *= in[d];
    if (infer_at >= 0) {
      if (known == 0 || rest % known != 0) {
        return LayerError(
            this->spec(),
            absl::StrCat("cannot reshape input ", ShapeToString(in), " into ", ShapeDescription(),
                         ": the ", rest, " elements per batch item are not a multiple of ", known));
      }
      out[static_cast<size_t>(infer_at)] = rest / known;
    } else if (known != rest) {
      return LayerError(this->spec(), absl::StrCat("cannot reshape input ", ShapeToString(in), " (",
                                                   rest, " elements per batch item) into ",
                                                   ShapeToString(out), " (", known, ")"));
    }
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    std::copy(in.data(), in.data() + in.size(), output->data());
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    (void)inputs;
    Lowering<T> l;
    l.kind = LoweredKind::kReshape;
    return l;
  }

 private:
  std::string ShapeDescription() const {
    std::string s = "(";
    for (size_t j = 0; j < shape_.size(); ++j) {
      const Entry& e = shape_[j];
      absl::StrAppend(&s, j > 0 ? ", " : "",
                      e.input_axis >= 0 ? absl::StrCat("[", e.input_axis, "]")
                      : e.infer         ? std::string("-1")
                                        : absl::StrCat(e.size));
    }
    return s + ")";
  }

  std::vector<Entry> shape_;
};

// Python's slice.indices(n) for one axis: the first index, the step and the number of elements.
struct SliceRange {
  int64_t start;
  int64_t step;
  int64_t length;
};

// `i` counted from the end if negative (i + n), then clamped to [lo, hi]; no overflow for any i.
int64_t ClampIndex(int64_t i, int64_t n, int64_t lo, int64_t hi) {
  if (i < 0) i = i < -n ? lo : i + n;
  return std::min(std::max(i, lo), hi);
}

// step != 0 and step != INT64_MIN (MakeSubtensor refuses both).
SliceRange ResolveSlice(std::optional<int64_t> start_in, std::optional<int64_t> stop_in,
                        int64_t step, int64_t n) {
  if (step > 0) {
    const int64_t start = start_in ? ClampIndex(*start_in, n, 0, n) : 0;
    const int64_t stop = stop_in ? ClampIndex(*stop_in, n, 0, n) : n;
    return {start, step, stop > start ? (stop - start - 1) / step + 1 : 0};
  }
  // -1 = "before 0".
  const int64_t start = start_in ? ClampIndex(*start_in, n, -1, n - 1) : n - 1;
  const int64_t stop = stop_in ? ClampIndex(*stop_in, n, -1, n - 1) : -1;
  return {start, step, stop < start ? (start - stop - 1) / (-step) + 1 : 0};
}

// Theano's Subtensor with one constant index (the axis is dropped) or slice (kept) on one axis.
template <typename T>
class SubtensorLayer : public Layer<T> {
 public:
  SubtensorLayer(LayerSpec spec, int64_t axis, std::optional<int64_t> index,
                 std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step)
      : Layer<T>(std::move(spec)),
        axis_(axis),
        index_(index),
        start_(start),
        stop_(stop),
        step_(step) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    ASSIGN_OR_RETURN(Selection sel, Select(in));
    Shape out = in;
    if (index_.has_value()) {
      out.erase(out.begin() + sel.axis);
    } else {
      out[static_cast<size_t>(sel.axis)] = sel.range.length;
    }
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const Selection sel = *Select(in.shape());  // OutputShape accepted the shape.
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < sel.axis; ++d) outer *= in.dim(static_cast<int>(d));
    for (int64_t d = sel.axis + 1; d < in.rank(); ++d) inner *= in.dim(static_cast<int>(d));
    const int64_t n = in.dim(static_cast<int>(sel.axis));
    const T* x = in.data();
    T* y = output->data();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k = 0; k < sel.range.length; ++k) {
        const T* src = x + (o * n + sel.range.start + k * sel.range.step) * inner;
        std::copy(src, src + inner, y);
        y += inner;
      }
    }
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1) return l;
    absl::StatusOr<Selection> sel = Select(inputs[0]);
    if (!sel.ok()) return l;
    l.kind = LoweredKind::kSlice;
    l.slice = SliceParams{sel->axis, sel->range.start, sel->range.step, sel->range.length,
                          index_.has_value()};
    return l;
  }

 private:
  struct Selection {
    int64_t axis;
    SliceRange range;  // An index is a slice of length 1.
  };

  absl::StatusOr<Selection> Select(const Shape& in) const {
    const int64_t rank = static_cast<int64_t>(in.size());
    const int64_t axis = axis_ < 0 && axis_ >= -rank ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank) {
      return LayerError(this->spec(), absl::StrCat("axis ", axis_, " is out of range for input ",
                                                   ShapeToString(in), " of rank ", rank));
    }
    if (axis == 0) {
      return LayerError(this->spec(),
                        absl::StrCat("axis ", axis_, " is axis 0 of input ", ShapeToString(in),
                                     ", the batch axis, which is never indexed"));
    }
    const int64_t n = in[static_cast<size_t>(axis)];
    if (index_.has_value()) {
      const int64_t i = *index_ < 0 && *index_ >= -n ? *index_ + n : *index_;
      if (i < 0 || i >= n) {
        return LayerError(this->spec(),
                          absl::StrCat("index ", *index_, " is out of bounds for axis ", axis,
                                       " with size ", n, " (input ", ShapeToString(in), ")"));
      }
      return Selection{axis, {i, 1, 1}};
    }
    const SliceRange range = ResolveSlice(start_, stop_, step_, n);
    if (range.length == 0) {
      auto opt = [](std::optional<int64_t> v) { return v ? absl::StrCat(*v) : std::string(); };
      return LayerError(this->spec(), absl::StrCat("slice [", opt(start_), ":", opt(stop_), ":",
                                                   step_, "] of axis ", axis, " (size ", n,
                                                   ", input ", ShapeToString(in), ") is empty"));
    }
    return Selection{axis, range};
  }

  int64_t axis_;  // As given; negative counts from the end.
  std::optional<int64_t> index_;
  std::optional<int64_t> start_;
  std::optional<int64_t> stop_;
  int64_t step_;
};

// An optional integer attribute (absent or null = nullopt).
absl::StatusOr<std::optional<int64_t>> OptionalInt(AttrReader& reader, const char* key) {
  if (!reader.Has(key)) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t v, reader.Int(key, std::nullopt));
  return std::optional<int64_t>(v);
}

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakePad(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  const nlohmann::json* width = reader.Raw("width");
  const std::string bad = absl::StrCat(
      "attribute width must be a non-empty list of [before, after] pairs (or "
      "single sizes) of non-negative integers, one per padded trailing axis, got ",
      width != nullptr ? width->dump() : "nothing");
  if (width == nullptr || !width->is_array() || width->empty()) return reader.Error(bad);
  std::vector<std::array<int64_t, 2>> pairs;
  for (const nlohmann::json& w : *width) {
    std::array<int64_t, 2> pair;
    if (w.is_number_integer()) {
      pair = {w.get<int64_t>(), w.get<int64_t>()};
    } else if (w.is_array() && w.size() == 2 && w[0].is_number_integer() &&
               w[1].is_number_integer()) {
      pair = {w[0].get<int64_t>(), w[1].get<int64_t>()};
    } else {
      return reader.Error(bad);
    }
    if (pair[0] < 0 || pair[1] < 0) return reader.Error(bad);
    pairs.push_back(pair);
  }
  ASSIGN_OR_RETURN(double value, reader.Number("value", 0.0));
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new PadLayer<T>(std::move(spec), std::move(pairs), static_cast<T>(value)));
}
template absl::StatusOr<LayerPtr<float>> MakePad(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakePad(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeDimshuffle(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  const nlohmann::json* pattern = reader.Raw("pattern");
  const std::string bad = absl::StrCat(
      "attribute pattern must be a list of input axes and \"x\" starting with 0 (the batch "
      "axis), each axis at most once, got ",
      pattern != nullptr ? pattern->dump() : "nothing");
  if (pattern == nullptr || !pattern->is_array() || pattern->empty()) return reader.Error(bad);
  std::vector<int64_t> axes;
  for (const nlohmann::json& p : *pattern) {
    if (p.is_string() && p.get<std::string>() == "x") {
      axes.push_back(DimshuffleLayer<T>::kNewAxis);
    } else if (p.is_number_integer() && p.get<int64_t>() >= 0) {
      if (std::find(axes.begin(), axes.end(), p.get<int64_t>()) != axes.end()) {
        return reader.Error(bad);
      }
      axes.push_back(p.get<int64_t>());
    } else {
      return reader.Error(bad);
    }
  }
  if (axes[0] != 0) return reader.Error(bad);
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new DimshuffleLayer<T>(std::move(spec), std::move(axes)));
}
template absl::StatusOr<LayerPtr<float>> MakeDimshuffle(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeDimshuffle(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeReshape(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  const nlohmann::json* shape = reader.Raw("shape");
  const std::string bad = absl::StrCat(
      "attribute shape must be a list starting with [0] (the batch axis) of sizes >= 0, at most "
      "one -1 and [i] (the input's size on axis i > 0), got ",
      shape != nullptr ? shape->dump() : "nothing");
  if (shape == nullptr || !shape->is_array() || shape->empty()) return reader.Error(bad);
  using Entry = typename ReshapeLayer<T>::Entry;
  std::vector<Entry> entries;
  int inferred = 0;
  for (size_t j = 0; j < shape->size(); ++j) {
    const nlohmann::json& s = (*shape)[j];
    Entry e;
    if (s.is_array() && s.size() == 1 && s[0].is_number_integer() && s[0].get<int64_t>() >= 0) {
      e.input_axis = s[0].get<int64_t>();
      // [0] only in front: anywhere else it would make a batch-sized axis.
      if ((j == 0) != (e.input_axis == 0)) return reader.Error(bad);
    } else if (j > 0 && s.is_number_integer() && s.get<int64_t>() >= -1) {
      e.size = s.get<int64_t>();
      e.infer = e.size == -1;
      inferred += e.infer ? 1 : 0;
    } else {
      return reader.Error(bad);
    }
    entries.push_back(e);
  }
  if (inferred > 1) return reader.Error(bad);
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new ReshapeLayer<T>(std::move(spec), std::move(entries)));
}
template absl::StatusOr<LayerPtr<float>> MakeReshape(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeReshape(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSubtensor(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  ASSIGN_OR_RETURN(int64_t axis, reader.Int("axis", std::nullopt));
  ASSIGN_OR_RETURN(std::optional<int64_t> index, OptionalInt(reader, "index"));
  ASSIGN_OR_RETURN(std::optional<int64_t> start, OptionalInt(reader, "start"));
  ASSIGN_OR_RETURN(std::optional<int64_t> stop, OptionalInt(reader, "stop"));
  ASSIGN_OR_RETURN(std::optional<int64_t> step, OptionalInt(reader, "step"));
  RETURN_IF_ERROR(reader.Finish());
  if (axis == 0) {
    return reader.Error("attribute axis is 0, the batch axis, which is never indexed");
  }
  if (index.has_value() && (start || stop || step)) {
    return reader.Error("attributes index and start/stop/step exclude each other");
  }
  if (step.has_value() && *step == 0) {
    return reader.Error("attribute step must not be 0 (Python: slice step cannot be zero)");
  }
  if (step.has_value() && *step == std::numeric_limits<int64_t>::min()) {
    return reader.Error(absl::StrCat("attribute step ", *step, " is out of range"));
  }
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(
      new SubtensorLayer<T>(std::move(spec), axis, index, start, stop, step.value_or(1)));
}
template absl::StatusOr<LayerPtr<float>> MakeSubtensor(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeSubtensor(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
