#include "core/ops/normalization.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/cpu.h"
#include "core/ops/normalization_row.h"
#include "core/ops/theano_scalar.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

std::string AxesToString(const std::vector<int64_t>& axes) {
  return absl::StrCat("(", absl::StrJoin(axes, ", "), axes.size() == 1 ? ",)" : ")");
}

// scale[p] = fma(alpha, sq[p], scale[p]) for p < n. std::fma is exactly rounded everywhere; the
// AVX2+FMA copy (used where the CPU has it) makes it one vectorised instruction instead of a libm
// call per element, with identical results.
template <typename T>
inline void FmaAccumulateImpl(int64_t n, T alpha, const T* __restrict sq, T* __restrict scale) {
  for (int64_t p = 0; p < n; ++p) scale[p] = std::fma(alpha, sq[p], scale[p]);
}
__attribute__((target("avx2,fma"))) void FmaAccumulateAvx2(int64_t n, float alpha, const float* sq,
                                                           float* scale) {
  FmaAccumulateImpl(n, alpha, sq, scale);
}
__attribute__((target("avx2,fma"))) void FmaAccumulateAvx2(int64_t n, double alpha,
                                                           const double* sq, double* scale) {
  FmaAccumulateImpl(n, alpha, sq, scale);
}
template <typename T>
void FmaAccumulate(int64_t n, T alpha, const T* sq, T* scale) {
  if (HasAvx2Fma()) {
    FmaAccumulateAvx2(n, alpha, sq, scale);
  } else {
    FmaAccumulateImpl(n, alpha, sq, scale);
  }
}

// One row of batch_norm_inv_std (BatchNormRowImpl, normalization_row.h), with the same AVX2+FMA
// arrangement as above.
template <typename T>
void BatchNormRow(int64_t n, const T* x, int64_t p_stride, const T* gamma, const T* beta,
                  const T* mean, const T* inv_std, T* y) {
  if (HasAvx2Fma()) {
    BatchNormRowAvx2(n, x, p_stride, gamma, beta, mean, inv_std, y);
  } else {
    BatchNormRowImpl(n, x, p_stride, gamma, beta, mean, inv_std, y);
  }
}

// Lasagne's LocalResponseNormalization2DLayer (lasagne/layers/normalization.py):
//   sq = sqr(x), zero-padded by n // 2 channels on both sides;
//   scale = k; for i in range(n): scale += alpha * sq[:, i:i+C]; out = x / scale ** beta
// Theano fuses the sum into one Elemwise whose C code g++ contracts to one FMA per term
// (fma(alpha, sq, scale), in channel order); sq is a separate Elemwise, rounded to T.
template <typename T>
class LrnLayer : public Layer<T> {
 public:
  LrnLayer(LayerSpec spec, T alpha, T k, T beta, int64_t n)
      : Layer<T>(std::move(spec)), alpha_(alpha), k_(k), beta_(beta), n_(n), pow_(beta) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    if (inputs[0].size() != 4) {
      return LayerError(this->spec(), absl::StrCat("input must be 4-D (N, C, H, W), got ",
                                                   ShapeToString(inputs[0])));
    }
    return inputs[0];
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    const int64_t batch = in.dim(0), channels = in.dim(1), pixels = in.dim(2) * in.dim(3);
    const int64_t half = n_ / 2;
    std::vector<T> sq(static_cast<size_t>(channels * pixels));
    std::vector<T> scale(static_cast<size_t>(pixels));
    for (int64_t b = 0; b < batch; ++b) {
      const T* x = in.data() + b * channels * pixels;
      T* y = output->data() + b * channels * pixels;
      for (int64_t i = 0; i < channels * pixels; ++i) sq[static_cast<size_t>(i)] = x[i] * x[i];
      for (int64_t c = 0; c < channels; ++c) {
        std::fill(scale.begin(), scale.end(), k_);
        // Taps c - half .. c + half; those outside the channels read the zero padding. Theano adds
        // alpha * 0 for each of them; after the first such term on a side more change nothing
        // (fma(alpha, 0, s) is idempotent), so one stands for all: the work stays O(C) for any n.
        const int64_t lo = c - half, hi = c + half;
        if (lo < 0) {
          for (T& s : scale) s = std::fma(alpha_, T(0), s);
        }
        for (int64_t cc = std::max<int64_t>(lo, 0); cc <= std::min(hi, channels - 1); ++cc) {
          FmaAccumulate(pixels, alpha_, sq.data() + cc * pixels, scale.data());
        }
        if (hi > channels - 1) {
          for (T& s : scale) s = std::fma(alpha_, T(0), s);
        }
        for (int64_t p = 0; p < pixels; ++p) {
          y[c * pixels + p] = x[c * pixels + p] / pow_(scale[static_cast<size_t>(p)]);
        }
      }
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    if (inputs.empty() || inputs[0].size() != 4) return 0;
    const int64_t taps = std::min(n_, 2 * inputs[0][1] + 1);
    return (2 * taps + 12) * NumElements(inputs[0]);
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1 || inputs[0].size() != 4) return l;
    l.kind = LoweredKind::kLrn;
    l.lrn = {alpha_, k_, beta_, n_};
    return l;
  }

 private:
  T alpha_;
  T k_;
  T beta_;
  int64_t n_;
  theano_scalar::ConstantPow<T> pow_;  // scale ** beta
};

// How `axes` was given; resolved against the input's rank in OutputShape.
enum class AxesKind { kAuto, kPerActivation, kExplicit };

// Lasagne's BatchNormLayer at inference (deterministic=True):
//   out = (x - mean) * (gamma * inv_std) + beta
// Theano's mul canonicalizer flattens the product to mul(x - mean, gamma, inv_std), which its C
// code evaluates left to right, and g++ contracts the last multiply with the add:
//   fma((x - mean) * gamma, inv_std, beta)
// This reproduces every BatchNormLayer of the import cases bit for bit (computing gamma * inv_std
// first does not).
template <typename T>
class BatchNormInvStdLayer : public Layer<T> {
 public:
  BatchNormInvStdLayer(LayerSpec spec, AxesKind kind, std::vector<int64_t> axes,
                       std::vector<Tensor<T>> params)
      : Layer<T>(std::move(spec)),
        kind_(kind),
        axes_(std::move(axes)),
        params_(std::move(params)) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    std::vector<int64_t> stride;
    RETURN_IF_ERROR(ParamStrides(inputs[0], &stride));
    return inputs[0];
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    std::vector<int64_t> stride;
    (void)ParamStrides(in.shape(), &stride);  // Cannot fail: OutputShape accepted the shape.
    const T* x = in.data();
    const T* gamma = params_[0].data();
    const T* beta = params_[1].data();
    const T* mean = params_[2].data();
    const T* inv_std = params_[3].data();
    T* y = output->data();
    const int64_t total = in.size();
    const int rank = in.rank();
    if (total == 0) return;
    if (rank == 0) {
      y[0] = std::fma((x[0] - mean[0]) * gamma[0], inv_std[0], beta[0]);
      return;
    }
    const int64_t inner = in.dim(rank - 1);
    const int64_t inner_stride = stride[static_cast<size_t>(rank - 1)];
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    int64_t p0 = 0;  // Parameter index of the first element of the current row.
    for (int64_t row = 0; row < total; row += inner) {
      BatchNormRow(inner, x + row, inner_stride, gamma + p0, beta + p0, mean + p0, inv_std + p0,
                   y + row);
      for (int d = rank - 2; d >= 0; --d) {
        const size_t ud = static_cast<size_t>(d);
        p0 += stride[ud];
        if (++index[ud] < in.dim(d)) break;
        p0 -= stride[ud] * index[ud];
        index[ud] = 0;
      }
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    return inputs.empty() ? 0 : 4 * NumElements(inputs[0]);
  }

  // The fast engine's per-channel batch norm (in a conv or dense epilogue, or a step of its own)
  // when the parameters vary along axis 1 only, e.g. axes "auto" on (N, C, H, W) or (N, C).
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    std::vector<int64_t> stride;
    if (inputs.size() != 1 || inputs[0].size() < 2 || !ParamStrides(inputs[0], &stride).ok()) {
      return l;
    }
    for (size_t d = 0; d < stride.size(); ++d) {
      if (stride[d] != (d == 1 ? 1 : 0)) return l;
    }
    l.kind = LoweredKind::kBatchNorm;
    l.axis = 1;
    l.norm = {params_[0].data(), params_[1].data(), params_[2].data(), params_[3].data()};
    return l;
  }
  int64_t NumParams() const override {
    int64_t n = 0;
    for (const Tensor<T>& p : params_) n += p.size();
    return n;
  }

 private:
  // Checks the input against the axes and every parameter's shape, and gives for each input axis
  // the parameters' element stride along it (0 along normalized axes). Both parameter forms — the
  // sizes of the non-normalized axes, e.g. (C,), or the input's rank with 1 on the normalized
  // axes, e.g. (1, C, 1, 1) — have the same C-order layout, so one stride vector serves all four.
  absl::Status ParamStrides(const Shape& in, std::vector<int64_t>* stride) const {
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> axes;
    switch (kind_) {
      case AxesKind::kAuto:
        axes = {0};
        for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
        break;
      case AxesKind::kPerActivation:
        axes = {0};
        break;
      case AxesKind::kExplicit:
        axes = axes_;
        break;
    }
    if (rank < 1 || axes.back() >= rank) {
      return LayerError(this->spec(),
                        absl::StrCat("axes ", AxesToString(axes), " do not fit input ",
                                     ShapeToString(in), " of rank ", rank));
    }
    std::vector<bool> normalized(static_cast<size_t>(rank), false);
    for (int64_t a : axes) normalized[static_cast<size_t>(a)] = true;
    Shape kept;  // Sizes of the non-normalized axes.
    for (int64_t d = 0; d < rank; ++d) {
      if (!normalized[static_cast<size_t>(d)]) kept.push_back(in[static_cast<size_t>(d)]);
    }
    static constexpr const char* kNames[] = {"gamma", "beta", "mean", "inv_std"};
    for (size_t k = 0; k < params_.size(); ++k) {
      const Shape& p = params_[k].shape();
      bool ok = p == kept;
      if (!ok && static_cast<int64_t>(p.size()) == rank) {
        ok = true;
        for (int64_t d = 0; d < rank; ++d) {
          const size_t ud = static_cast<size_t>(d);
          ok = ok && p[ud] == (normalized[ud] ? 1 : in[ud]);
        }
      }
      if (!ok) {
        Shape full(in.begin(), in.end());
        for (int64_t a : axes) full[static_cast<size_t>(a)] = 1;
        return LayerError(
            this->spec(),
            absl::StrCat(kNames[k], " ", ShapeToString(p), " does not fit input ",
                         ShapeToString(in), " with axes ", AxesToString(axes), ": expected ",
                         ShapeToString(kept), " or ", ShapeToString(full)));
      }
    }
    stride->assign(static_cast<size_t>(rank), 0);
    int64_t s = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const size_t ud = static_cast<size_t>(d);
      if (normalized[ud]) continue;
      (*stride)[ud] = s;
      s *= in[ud];
    }
    return absl::OkStatus();
  }

  AxesKind kind_;
  std::vector<int64_t> axes_;  // kExplicit: sorted, unique, starting with 0.
  std::vector<Tensor<T>> params_;
};

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeLocalResponseNormalization(LayerSpec spec,
                                                           std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  // Lasagne's defaults; Python floats become constants of the model's dtype, the int k too.
  ASSIGN_OR_RETURN(double alpha, reader.Number("alpha", 1e-4));
  ASSIGN_OR_RETURN(double k, reader.Number("k", 2.0));
  ASSIGN_OR_RETURN(double beta, reader.Number("beta", 0.75));
  ASSIGN_OR_RETURN(int64_t n, reader.Int("n", 5));
  RETURN_IF_ERROR(reader.Finish());
  if (n < 1 || n % 2 == 0) {
    // Lasagne: NotImplementedError("Only works with odd n").
    return reader.Error(
        absl::StrCat("attribute n must be a positive odd number (Lasagne: \"Only "
                     "works with odd n\"), got ",
                     n));
  }
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  return LayerPtr<T>(new LrnLayer<T>(std::move(spec), static_cast<T>(alpha), static_cast<T>(k),
                                     static_cast<T>(beta), n));
}
template absl::StatusOr<LayerPtr<float>> MakeLocalResponseNormalization(LayerSpec,
                                                                        std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeLocalResponseNormalization(
    LayerSpec, std::vector<Tensor<double>>);

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBatchNormInvStd(LayerSpec spec, std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  AxesKind kind = AxesKind::kAuto;
  std::vector<int64_t> axes;
  if (const nlohmann::json* attr = reader.Raw("axes"); attr != nullptr) {
    const std::string bad = absl::StrCat(
        "attribute axes must be a list of axes, an axis, \"auto\", \"spatial\" or "
        "\"per-activation\", got ",
        attr->dump());
    if (attr->is_string()) {
      const std::string s = attr->get<std::string>();
      if (s == "auto" || s == "spatial") {
        kind = AxesKind::kAuto;
      } else if (s == "per-activation") {
        kind = AxesKind::kPerActivation;
      } else {
        return reader.Error(bad);
      }
    } else if (attr->is_number_integer() || attr->is_array()) {
      kind = AxesKind::kExplicit;
      const nlohmann::json list = attr->is_array() ? *attr : nlohmann::json::array({*attr});
      for (const nlohmann::json& a : list) {
        if (!a.is_number_integer()) return reader.Error(bad);
        axes.push_back(a.get<int64_t>());
      }
      std::sort(axes.begin(), axes.end());
      if (axes.empty() || axes.front() < 0 ||
          std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
        return reader.Error(absl::StrCat(
            "attribute axes must list distinct non-negative axes, got ", attr->dump()));
      }
      if (axes.front() != 0) {
        return reader.Error(absl::StrCat(
            "attribute axes must include 0, the batch axis (otherwise the parameters would vary "
            "along the batch), got ",
            attr->dump()));
      }
    } else {
      return reader.Error(bad);
    }
  }
  RETURN_IF_ERROR(reader.Finish());
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"gamma", "beta", "mean", "inv_std"}));
  return LayerPtr<T>(
      new BatchNormInvStdLayer<T>(std::move(spec), kind, std::move(axes), std::move(params)));
}
template absl::StatusOr<LayerPtr<float>> MakeBatchNormInvStd(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeBatchNormInvStd(LayerSpec,
                                                              std::vector<Tensor<double>>);

}  // namespace theano_serving
