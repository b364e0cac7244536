#include "core/ops/conv2d.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "core/shape.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// out[0:n] += w * in[0:n]. The fixed-width blocks let GCC's -O2 ("very cheap") vectoriser handle
// a loop whose length is unknown at compile time; __restrict tells it the rows do not alias.
// Element-wise, so the summation order of each output is unaffected. An AVX2 copy is
// used on CPUs that have it (HasAvx2Fma) (the project compiles as ISO C++, where GCC
// does not contract a*b+c into an FMA, so both copies give identical results).
template <typename T>
inline void AxpyRowImpl(int64_t n, T w, const T* __restrict in, T* __restrict out) {
  constexpr int64_t kBlock = 8;
  int64_t x = 0;
  for (; x + kBlock <= n; x += kBlock) {
    for (int64_t k = 0; k < kBlock; ++k) out[x + k] += w * in[x + k];
  }
  for (; x < n; ++x) out[x] += w * in[x];
}
__attribute__((target("avx2,fma"))) void AxpyRowAvx2(int64_t n, float w, const float* in,
                                                     float* out) {
  AxpyRowImpl(n, w, in, out);
}
__attribute__((target("avx2,fma"))) void AxpyRowAvx2(int64_t n, double w, const double* in,
                                                     double* out) {
  AxpyRowImpl(n, w, in, out);
}
template <typename T>
void AxpyRow(int64_t n, T w, const T* in, T* out) {
  if (HasAvx2Fma()) {
    AxpyRowAvx2(n, w, in, out);
  } else {
    AxpyRowImpl(n, w, in, out);
  }
}

// The one convolution kernel behind conv2d, conv2d_legacy and signal_conv2d: a
// grouped, dilated, strided, zero-padded cross-correlation (a true convolution
// is a correlation with the 180-degree-rotated kernel, which the layers prepare
// once at construction):
//   out[n, o, y, x] = sum_{c < C/G, i < kh, j < kw}
//       in[n, g*C/G + c, y*sh - pad_top + i*dh, x*sw - pad_left + j*dw] * w[o,
//       c, i, j]
// with g = o / (O/G) and out-of-image input taps read as zero. Layouts: input
// (N, C, H, W), weights (O, C/G, kh, kw), output (N, O, out_h, out_w), all C
// order.
//
// Like Theano's CorrMM it first gathers, per image and group, every tap's view
// of the padded input into a column buffer ("im2col": one contiguous
// out_h*out_w plane per tap (c, i, j)), then each output plane is the weighted
// sum of those planes. The innermost loop thus walks a whole contiguous output
// plane, and the gather is shared by all output channels of the group. Each
// output sums its taps in (c, i, j) order, accumulating in T as Theano's float
// sgemm does.
template <typename T>
void Correlate2d(const ConvGeometry& g, const T* input, const T* weights, T* output) {
  const int64_t in_per_group = g.in_channels / g.groups;
  const int64_t out_per_group = g.out_channels / g.groups;
  const int64_t taps = in_per_group * g.kh * g.kw;
  const int64_t in_plane = g.in_h * g.in_w;
  const int64_t out_plane = g.out_h * g.out_w;
  if (g.batch == 0 || out_plane == 0) return;

  // For column tap j, the output columns x whose input column x*sw + offset[j]
  // is inside the image form the range [x_begin[j], x_end[j]); the rest read
  // padding.
  std::vector<int64_t> offset(static_cast<size_t>(g.kw));
  std::vector<int64_t> x_begin(static_cast<size_t>(g.kw));
  std::vector<int64_t> x_end(static_cast<size_t>(g.kw));
  for (int64_t j = 0; j < g.kw; ++j) {
    const int64_t off = j * g.dil_w - g.pad_left;
    const int64_t begin = off >= 0 ? 0 : (-off + g.stride_w - 1) / g.stride_w;
    const int64_t end = g.in_w - 1 - off < 0 ? 0 : (g.in_w - 1 - off) / g.stride_w + 1;
    const size_t ju = static_cast<size_t>(j);
    offset[ju] = off;
    x_end[ju] = std::min(end, g.out_w);
    x_begin[ju] = std::min(begin, x_end[ju]);
  }

  std::vector<T> columns(static_cast<size_t>(taps * out_plane));
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t group = 0; group < g.groups; ++group) {
      // Gather: columns[(c*kh + i)*kw + j][y*out_w + x] = padded input tap.
      T* col = columns.data();
      for (int64_t c = 0; c < in_per_group; ++c) {
        const T* in = input + (n * g.in_channels + group * in_per_group + c) * in_plane;
        for (int64_t i = 0; i < g.kh; ++i) {
          for (int64_t j = 0; j < g.kw; ++j, col += out_plane) {
            const size_t ju = static_cast<size_t>(j);
            for (int64_t y = 0; y < g.out_h; ++y) {
              T* dst = col + y * g.out_w;
              const int64_t iy = y * g.stride_h - g.pad_top + i * g.dil_h;
              if (iy < 0 || iy >= g.in_h) {
                std::fill(dst, dst + g.out_w, T(0));
                continue;
              }
              const T* src = in + iy * g.in_w + offset[ju];
              std::fill(dst, dst + x_begin[ju], T(0));
              for (int64_t x = x_begin[ju]; x < x_end[ju]; ++x) dst[x] = src[x * g.stride_w];
              std::fill(dst + x_end[ju], dst + g.out_w, T(0));
            }
          }
        }
      }
      // Accumulate: out[o] = sum_t w[o, t] * columns[t].
      for (int64_t o = group * out_per_group; o < (group + 1) * out_per_group; ++o) {
        T* out = output + (n * g.out_channels + o) * out_plane;
        std::fill(out, out + out_plane, T(0));
        const T* w = weights + o * taps;
        for (int64_t t = 0; t < taps; ++t) {
          AxpyRow(out_plane, w[t], columns.data() + t * out_plane, out);
        }
      }
    }
  }
}

// Which Theano op a ConvLayer reproduces; they differ only in attributes and
// shape rules.
enum class ConvFlavor {
  kCorrMM,  // theano.tensor.nnet.conv2d
  kLegacy,  // theano.tensor.nnet.conv.conv2d (ConvOp)
  kSignal,  // theano.tensor.signal.conv.conv2d (ConvOp on 2-D/3-D tensors)
};

struct ConvConfig {
  ConvFlavor flavor = ConvFlavor::kCorrMM;
  BorderMode border_mode = BorderMode::kValid;
  AxisPadding explicit_pad_h;  // Only for BorderMode::kExplicit.
  AxisPadding explicit_pad_w;
  std::string border_mode_text = "\"valid\"";  // As the user wrote it, for messages.
  std::array<int64_t, 2> subsample = {1, 1};
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t num_groups = 1;
  bool filter_flip = true;
  Shape filters_shape;  // As given (signal_conv2d: 2-D or 3-D), for messages
                        // and output shapes.
};

std::string PairToString(const std::array<int64_t, 2>& p) {
  return absl::StrCat("(", p[0], ", ", p[1], ")");
}

template <typename T>
class ConvLayer final : public Layer<T> {
 public:
  // `filters` is (O, C/G, kh, kw) in the orientation Theano stores (unflipped).
  ConvLayer(LayerSpec spec, ConvConfig config, Tensor<T> filters)
      : Layer<T>(std::move(spec)), config_(std::move(config)), weights_(std::move(filters)) {
    if (config_.filter_flip) FlipKernels(&weights_);
  }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    if (inputs.size() != 1) {
      return LayerError(this->spec(), absl::StrCat("takes 1 input, got ", inputs.size()));
    }
    ASSIGN_OR_RETURN(ConvGeometry g, Geometry(inputs[0]));
    if (config_.flavor != ConvFlavor::kSignal)
      return Shape{g.batch, g.out_channels, g.out_h, g.out_w};
    // signal.conv.conv2d drops the batch axis of a 2-D image and the kernel
    // axis of a 2-D kernel.
    Shape out;
    if (inputs[0].size() == 3) out.push_back(g.batch);
    if (config_.filters_shape.size() == 3) out.push_back(g.out_channels);
    out.push_back(g.out_h);
    out.push_back(g.out_w);
    return out;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    absl::StatusOr<ConvGeometry> g = Geometry(inputs[0]->shape());
    if (!g.ok()) return;  // Precondition violated; OutputShape() would have reported it.
    Correlate2d(*g, inputs[0]->data(), weights_.data(), output->data());
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    if (inputs.size() != 1) return 0;
    absl::StatusOr<ConvGeometry> g = Geometry(inputs[0]);
    if (!g.ok()) return 0;
    return 2 * g->batch * g->out_channels * g->out_h * g->out_w * (g->in_channels / g->groups) *
           g->kh * g->kw;
  }

  int64_t NumParams() const override { return weights_.size(); }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1 || config_.flavor == ConvFlavor::kSignal) return l;
    absl::StatusOr<ConvGeometry> g = Geometry(inputs[0]);
    if (!g.ok()) return l;
    l.kind = LoweredKind::kConv;
    l.conv = *g;
    l.weights = &weights_;
    return l;
  }

 private:
  // Rotates every (kh, kw) kernel by 180°, turning a convolution into a
  // correlation.
  static void FlipKernels(Tensor<T>* w) {
    const int64_t taps = w->dim(2) * w->dim(3);
    if (taps == 0) return;
    for (int64_t k = 0; k < w->size(); k += taps) std::reverse(w->data() + k, w->data() + k + taps);
  }

  absl::Status Error(absl::string_view message) const { return LayerError(this->spec(), message); }

  // Validates the input shape and computes the geometry of the correlation.
  absl::StatusOr<ConvGeometry> Geometry(const Shape& input) const {
    ConvGeometry g;
    g.out_channels = weights_.dim(0);
    g.kh = weights_.dim(2);
    g.kw = weights_.dim(3);
    g.groups = config_.num_groups;
    g.stride_h = config_.subsample[0];
    g.stride_w = config_.subsample[1];
    g.dil_h = config_.dilation[0];
    g.dil_w = config_.dilation[1];
    const std::string filters = ShapeToString(config_.filters_shape);

    if (config_.flavor == ConvFlavor::kSignal) {
      if (input.size() != 2 && input.size() != 3) {
        return Error(
            absl::StrCat("input must be 2-D (rows, columns) or 3-D (batch, rows, "
                         "columns), got shape ",
                         ShapeToString(input)));
      }
      g.batch = input.size() == 3 ? input[0] : 1;
      g.in_channels = 1;
      g.in_h = input[input.size() - 2];
      g.in_w = input[input.size() - 1];
    } else {
      if (input.size() != 4) {
        return Error(absl::StrCat("input must be 4-D (batch, channels, rows, columns), got shape ",
                                  ShapeToString(input)));
      }
      g.batch = input[0];
      g.in_channels = input[1];
      g.in_h = input[2];
      g.in_w = input[3];
      const int64_t expected = weights_.dim(1) * g.groups;
      if (g.in_channels != expected) {
        // Theano: "CorrMM images and kernel must have the same stack size".
        return Error(absl::StrCat("input has ", g.in_channels, " channels, filters expect ",
                                  expected, " (filters shape ", filters, ", num_groups ", g.groups,
                                  "); input shape ", ShapeToString(input)));
      }
    }

    if (config_.flavor == ConvFlavor::kCorrMM) {
      const AxisPadding ph =
          ConvPadding(config_.border_mode, g.kh, g.dil_h, config_.explicit_pad_h);
      const AxisPadding pw =
          ConvPadding(config_.border_mode, g.kw, g.dil_w, config_.explicit_pad_w);
      g.pad_top = ph.lo;
      g.pad_left = pw.lo;
      g.out_h = ConvOutputSize(g.in_h, g.kh, ph, g.stride_h, g.dil_h);
      g.out_w = ConvOutputSize(g.in_w, g.kw, pw, g.stride_w, g.dil_w);
      if (g.out_h <= 0 || g.out_w <= 0) {
        // Theano: "CorrMM: impossible output shape", even when a size is
        // exactly 0.
        return Error(absl::StrCat("impossible output shape (", g.out_h, ", ", g.out_w,
                                  ") for input shape ", ShapeToString(input), " and filters shape ",
                                  filters, " with border_mode ", config_.border_mode_text,
                                  " (padding ((", ph.lo, ", ", ph.hi, "), (", pw.lo, ", ", pw.hi,
                                  "))), subsample ", PairToString(config_.subsample),
                                  ", filter_dilation ", PairToString(config_.dilation)));
      }
    } else {
      // ConvOp: the valid or full correlation, keeping every subsample-th row
      // and column.
      const bool full = config_.border_mode == BorderMode::kFull;
      const int64_t full_h = LegacyConvFullSize(g.in_h, g.kh, full);
      const int64_t full_w = LegacyConvFullSize(g.in_w, g.kw, full);
      if (full_h <= 0 || full_w <= 0) {
        // Theano: "Output dimensions are not valid <h>x<w>".
        return Error(absl::StrCat("output dimensions are not valid ", full_h, "x", full_w,
                                  ": input shape ", ShapeToString(input), ", filters shape ",
                                  filters, ", border_mode ", config_.border_mode_text));
      }
      g.pad_top = full ? g.kh - 1 : 0;
      g.pad_left = full ? g.kw - 1 : 0;
      g.out_h = LegacyConvOutputSize(g.in_h, g.kh, full, g.stride_h);
      g.out_w = LegacyConvOutputSize(g.in_w, g.kw, full, g.stride_w);
    }
    return g;
  }

  ConvConfig config_;
  Tensor<T> weights_;  // (O, C/G, kh, kw), flipped if filter_flip: ready for
                       // Correlate2d.
};

// subsample / filter_dilation: a pair of integers >= 1 (Theano crashes with
// SIGFPE on 0).
absl::StatusOr<std::array<int64_t, 2>> PositivePair(AttrReader& reader, absl::string_view key) {
  ASSIGN_OR_RETURN(auto pair, reader.IntPair(key, std::array<int64_t, 2>{1, 1}));
  if (pair[0] < 1 || pair[1] < 1) {
    return reader.Error(absl::StrCat("attribute ", key,
                                     " must be a pair of positive integers, got [", pair[0], ", ",
                                     pair[1], "]"));
  }
  return pair;
}

// One element of a border_mode list: p (both sides) or [lo, hi], all >= 0.
bool ParsePadElement(const nlohmann::json& j, AxisPadding* pad) {
  if (j.is_number_integer()) {
    const int64_t p = j.get<int64_t>();
    if (p < 0) return false;
    *pad = {p, p};
    return true;
  }
  if (j.is_array() && j.size() == 2 && j[0].is_number_integer() && j[1].is_number_integer()) {
    const int64_t lo = j[0].get<int64_t>();
    const int64_t hi = j[1].get<int64_t>();
    if (lo < 0 || hi < 0) return false;
    *pad = {lo, hi};
    return true;
  }
  return false;
}

// conv2d's border_mode: "valid" | "full" | "half" | p | [ph, pw] | [[top,
// bottom], [left, right]] (a list may mix the two element forms, as Theano's
// tuple may).
absl::Status ParseCorrMMBorderMode(AttrReader& reader, ConvConfig* config) {
  const nlohmann::json* v = reader.Raw("border_mode");
  if (v == nullptr) return absl::OkStatus();  // Theano's default: "valid".
  config->border_mode_text = v->dump();
  const std::string kAllowed =
      "must be \"valid\", \"full\", \"half\", a non-negative integer p, [ph, "
      "pw] or "
      "[[top, bottom], [left, right]]";
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s == "valid") {
      config->border_mode = BorderMode::kValid;
    } else if (s == "full") {
      config->border_mode = BorderMode::kFull;
    } else if (s == "half") {
      config->border_mode = BorderMode::kHalf;
    } else {
      return reader.Error(absl::StrCat("invalid border_mode ", v->dump(), ": ", kAllowed));
    }
    return absl::OkStatus();
  }
  if (v->is_number_integer()) {
    AxisPadding pad;
    if (!ParsePadElement(*v, &pad)) {
      return reader.Error(
          absl::StrCat("invalid border_mode ", v->dump(), ": padding must be non-negative"));
    }
    config->border_mode = BorderMode::kExplicit;
    config->explicit_pad_h = pad;
    config->explicit_pad_w = pad;
    return absl::OkStatus();
  }
  if (v->is_array()) {
    if (v->size() != 2) {
      return reader.Error(absl::StrCat("invalid border_mode ", v->dump(),
                                       ": a list must have length 2 (rows, columns), got ",
                                       v->size()));
    }
    if (!ParsePadElement((*v)[0], &config->explicit_pad_h) ||
        !ParsePadElement((*v)[1], &config->explicit_pad_w)) {
      return reader.Error(absl::StrCat("invalid border_mode ", v->dump(),
                                       ": each element must be a non-negative integer or a pair "
                                       "[lo, hi] of non-negative integers"));
    }
    config->border_mode = BorderMode::kExplicit;
    return absl::OkStatus();
  }
  return reader.Error(absl::StrCat("invalid border_mode ", v->dump(), ": ", kAllowed));
}

// conv2d_legacy / signal_conv2d: border_mode "valid" (default) or "full" only.
absl::Status ParseLegacyBorderMode(AttrReader& reader, ConvConfig* config) {
  ASSIGN_OR_RETURN(std::string mode, reader.String("border_mode", std::string("valid")));
  config->border_mode_text = absl::StrCat("\"", mode, "\"");
  if (mode == "valid") {
    config->border_mode = BorderMode::kValid;
  } else if (mode == "full") {
    config->border_mode = BorderMode::kFull;
  } else {
    // Theano: "Mode half not implemented".
    return reader.Error(absl::StrCat("border_mode \"", mode,
                                     "\" is not supported by this op (Theano: Mode ", mode,
                                     " not implemented); use \"valid\" or \"full\""));
  }
  return absl::OkStatus();
}

absl::Status CheckKernelNotEmpty(const LayerSpec& spec, const Shape& shape) {
  if (shape[shape.size() - 2] < 1 || shape[shape.size() - 1] < 1) {
    return LayerError(spec, absl::StrCat("filters shape ", ShapeToString(shape),
                                         " has an empty kernel (rows and columns must be >= 1)"));
  }
  return absl::OkStatus();
}

// The attributes conv2d_legacy and signal_conv2d share: border_mode ("valid" | "full") and
// subsample, nothing else.
absl::StatusOr<ConvConfig> ParseLegacyConvAttrs(const LayerSpec& spec, ConvFlavor flavor) {
  ConvConfig config;
  config.flavor = flavor;
  AttrReader reader(spec);
  RETURN_IF_ERROR(ParseLegacyBorderMode(reader, &config));
  ASSIGN_OR_RETURN(config.subsample, PositivePair(reader, "subsample"));
  RETURN_IF_ERROR(reader.Finish());
  return config;
}

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"filters"}));
  ConvConfig config;
  config.flavor = ConvFlavor::kCorrMM;
  {
    AttrReader reader(spec);
    RETURN_IF_ERROR(ParseCorrMMBorderMode(reader, &config));
    ASSIGN_OR_RETURN(config.subsample, PositivePair(reader, "subsample"));
    ASSIGN_OR_RETURN(config.filter_flip, reader.Bool("filter_flip", true));
    ASSIGN_OR_RETURN(config.dilation, PositivePair(reader, "filter_dilation"));
    ASSIGN_OR_RETURN(config.num_groups, reader.Int("num_groups", 1));
    if (config.num_groups < 1) {
      return reader.Error(
          absl::StrCat("attribute num_groups must be a positive integer, got ", config.num_groups));
    }
    RETURN_IF_ERROR(reader.Finish());
  }
  Tensor<T>& filters = params[0];
  config.filters_shape = filters.shape();
  if (filters.rank() != 4) {
    return LayerError(spec, absl::StrCat("filters must be 4-D (out_channels, in_channels / "
                                         "num_groups, rows, columns), got shape ",
                                         ShapeToString(filters.shape())));
  }
  RETURN_IF_ERROR(CheckKernelNotEmpty(spec, filters.shape()));
  if (filters.dim(0) % config.num_groups != 0) {
    // Theano: "CorrMM the number of filters must be divisible by the number of
    // groups".
    return LayerError(
        spec,
        absl::StrCat("filters shape ", ShapeToString(filters.shape()), " has ", filters.dim(0),
                     " output channels, not divisible by num_groups ", config.num_groups));
  }
  return LayerPtr<T>(new ConvLayer<T>(std::move(spec), std::move(config), std::move(filters)));
}
template absl::StatusOr<LayerPtr<float>> MakeConv2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConv2d(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeConv2dLegacy(LayerSpec spec, std::vector<Tensor<T>> params) {
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"filters"}));
  ASSIGN_OR_RETURN(ConvConfig config, ParseLegacyConvAttrs(spec, ConvFlavor::kLegacy));
  Tensor<T>& filters = params[0];
  config.filters_shape = filters.shape();
  if (filters.rank() != 4) {
    return LayerError(spec, absl::StrCat("filters must be 4-D (out_channels, in_channels, rows, "
                                         "columns), got shape ",
                                         ShapeToString(filters.shape())));
  }
  RETURN_IF_ERROR(CheckKernelNotEmpty(spec, filters.shape()));
  return LayerPtr<T>(new ConvLayer<T>(std::move(spec), std::move(config), std::move(filters)));
}
template absl::StatusOr<LayerPtr<float>> MakeConv2dLegacy(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeConv2dLegacy(LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeSignalConv2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"filters"}));
  ASSIGN_OR_RETURN(ConvConfig config, ParseLegacyConvAttrs(spec, ConvFlavor::kSignal));
  Tensor<T>& filters = params[0];
  config.filters_shape = filters.shape();
  if (filters.rank() != 2 && filters.rank() != 3) {
    return LayerError(spec, absl::StrCat("filters must be 2-D (rows, columns) or 3-D (kernels, "
                                         "rows, columns), got shape ",
                                         ShapeToString(filters.shape())));
  }
  RETURN_IF_ERROR(CheckKernelNotEmpty(spec, filters.shape()));
  // Seen by the shared kernel as (kernels, 1 channel, rows, columns).
  const int64_t kernels = filters.rank() == 3 ? filters.dim(0) : 1;
  filters.Reshape({kernels, 1, filters.dim(filters.rank() - 2), filters.dim(filters.rank() - 1)});
  return LayerPtr<T>(new ConvLayer<T>(std::move(spec), std::move(config), std::move(filters)));
}
template absl::StatusOr<LayerPtr<float>> MakeSignalConv2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeSignalConv2d(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
