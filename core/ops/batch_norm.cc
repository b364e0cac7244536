#include "core/ops/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

// How the `axes` attribute names the normalized (broadcast) axes; resolved
// against the input's rank in OutputShape, as _prepare_batch_normalization_axes
// does at graph-build time.
enum class AxesKind { kPerActivation, kSpatial, kExplicit };

std::string AxesToString(const std::vector<int64_t>& axes) {
  return absl::StrCat("(", absl::StrJoin(axes, ", "), axes.size() == 1 ? ",)" : ")");
}

// theano.tensor.nnet.bn.batch_normalization_test in inference form:
//   out = (x - mean) * (gamma / sqrt(var + epsilon)) + beta
// The four parameters share one shape: either the input's rank with 1 along
// every normalized axis (the stored broadcastable form, e.g. (1, C, 1, 1)), or
// only the non-normalized axes (e.g. (C,)), which Theano dimshuffles into
// place.
template <typename T>
class BatchNormLayer : public Layer<T> {
 public:
  BatchNormLayer(LayerSpec spec, AxesKind kind, std::vector<int64_t> explicit_axes, T epsilon,
                 std::vector<Tensor<T>> params)
      : Layer<T>(std::move(spec)),
        kind_(kind),
        explicit_axes_(std::move(explicit_axes)),
        param_shape_(params[0].shape()),
        beta_(std::move(params[1])),
        mean_(std::move(params[2])) {
    // The first fused Elemwise of Theano's graph: gamma / sqrt(var + epsilon),
    // in T.
    const Tensor<T>& gamma = params[0];
    const Tensor<T>& var = params[3];
    scale_.Resize(param_shape_);
    for (int64_t i = 0; i < gamma.size(); ++i) {
      scale_.data()[i] = gamma.data()[i] / std::sqrt(var.data()[i] + epsilon);
    }
    ones_.Resize(param_shape_);
    std::fill(ones_.data(), ones_.data() + ones_.size(), T(1));
  }

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    RETURN_IF_ERROR(
        ExpectInputCount(this->spec(), inputs.size(), this->min_inputs(), this->max_inputs()));
    const Shape& in = inputs[0];
    std::vector<int64_t> param_stride;
    RETURN_IF_ERROR(ParamStrides(in, &param_stride));
    return in;
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& in = *inputs[0];
    std::vector<int64_t> param_stride;
    // Cannot fail: OutputShape accepted this shape.
    (void)ParamStrides(in.shape(), &param_stride);
    const int rank = in.rank();
    const int64_t n = in.size();
    const T* x = in.data();
    const T* mean = mean_.data();
    const T* scale = scale_.data();
    const T* beta = beta_.data();
    T* y = output->data();
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    int64_t p = 0;  // Flat index into the parameters for the element at `index`.
    for (int64_t i = 0; i < n; ++i) {
      // The second fused Elemwise: ((x - mean) * scale) + beta, contracted to
      // an FMA by g++ (the golden data was produced with FMA; without it
      // results differ by up to ~2e-6).
      y[i] = std::fma(x[i] - mean[p], scale[p], beta[p]);
      for (int d = rank - 1; d >= 0; --d) {
        const size_t ud = static_cast<size_t>(d);
        p += param_stride[ud];
        if (++index[ud] < in.dim(d)) break;
        p -= param_stride[ud] * index[ud];
        index[ud] = 0;
      }
    }
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    return inputs.empty() ? 0 : 3 * NumElements(inputs[0]);
  }
  int64_t NumParams() const override { return 4 * NumElements(param_shape_); }

  // Normalized over every axis but axis 1 (spatial 4-D, per-activation 2-D): the fast engine's
  // batch_norm_inv_std fma((x - mean) * gamma, inv_std, beta) with gamma = 1 and inv_std = scale,
  // which is fma(x - mean, scale, beta) exactly (x - mean times 1 is itself), as Run computes.
  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    std::vector<int64_t> param_stride;
    if (inputs.size() != 1 || inputs[0].size() < 2 ||
        !ParamStrides(inputs[0], &param_stride).ok()) {
      return l;
    }
    for (size_t d = 0; d < param_stride.size(); ++d) {
      if ((param_stride[d] != 0) != (d == 1)) return l;  // Parameters along axis 1 alone.
    }
    if (param_stride[1] != 1) return l;
    l.kind = LoweredKind::kBatchNorm;
    l.norm.gamma = ones_.data();
    l.norm.beta = beta_.data();
    l.norm.mean = mean_.data();
    l.norm.inv_std = scale_.data();
    return l;
  }

 private:
  // Validates the input shape against the axes and the parameter shape, and
  // gives for each input axis the stride of the parameters along it (0 along
  // normalized axes).
  absl::Status ParamStrides(const Shape& in, std::vector<int64_t>* stride) const {
    const int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> axes;
    switch (kind_) {
      case AxesKind::kPerActivation:
        axes = {0};
        break;
      case AxesKind::kSpatial:
        axes = {0};
        for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
        break;
      case AxesKind::kExplicit:
        axes = explicit_axes_;
        std::sort(axes.begin(), axes.end());
        break;
    }
    if (axes.front() < 0 || axes.back() >= rank) {
      return LayerError(this->spec(),
                        absl::StrCat("axes should be less than ndim (<", rank, "), but ",
                                     AxesToString(axes), " given (input ", ShapeToString(in), ")"));
    }
    std::vector<bool> normalized(static_cast<size_t>(rank), false);
    for (int64_t a : axes) normalized[static_cast<size_t>(a)] = true;
    std::vector<int64_t> kept;  // Non-normalized axes, in order.
    for (int64_t d = 0; d < rank; ++d) {
      if (!normalized[static_cast<size_t>(d)]) kept.push_back(d);
    }

    const int64_t prank = static_cast<int64_t>(param_shape_.size());
    // Element strides of the parameter tensor itself (C order).
    std::vector<int64_t> own(param_shape_.size(), 1);
    for (int64_t d = prank - 2; d >= 0; --d) {
      own[static_cast<size_t>(d)] =
          own[static_cast<size_t>(d + 1)] * param_shape_[static_cast<size_t>(d + 1)];
    }
    stride->assign(static_cast<size_t>(rank), 0);
    auto mismatch = [&]() {
      return LayerError(
          this->spec(),
          absl::StrCat("parameters of shape ", ShapeToString(param_shape_), " do not fit input ",
                       ShapeToString(in), " with axes ", AxesToString(axes),
                       ": they need the input's size on every other axis and 1 (or "
                       "no axis) on the normalized ones"));
    };
    if (prank == rank) {
      for (int64_t d = 0; d < rank; ++d) {
        const size_t ud = static_cast<size_t>(d);
        if (normalized[ud]) {
          if (param_shape_[ud] != 1) return mismatch();
        } else {
          if (param_shape_[ud] != in[ud]) return mismatch();
          (*stride)[ud] = own[ud];
        }
      }
    } else if (prank == static_cast<int64_t>(kept.size())) {
      for (size_t k = 0; k < kept.size(); ++k) {
        const size_t ud = static_cast<size_t>(kept[k]);
        if (param_shape_[k] != in[ud]) return mismatch();
        (*stride)[ud] = own[k];
      }
    } else {
      return LayerError(
          this->spec(),
          absl::StrCat("parameters have rank ", prank, " (shape ", ShapeToString(param_shape_),
                       "); with input ", ShapeToString(in), " and axes ", AxesToString(axes),
                       " they need rank ", rank, " or ", kept.size()));
    }
    return absl::OkStatus();
  }

  AxesKind kind_;
  std::vector<int64_t> explicit_axes_;
  Shape param_shape_;
  Tensor<T> beta_;
  Tensor<T> mean_;
  Tensor<T> scale_;  // gamma / sqrt(var + epsilon)
  Tensor<T> ones_;   // 1 per parameter: the fast engine's gamma (Lower).
};

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakeBatchNormalizationTest(LayerSpec spec,
                                                       std::vector<Tensor<T>> params) {
  AttrReader reader(spec);
  AxesKind kind = AxesKind::kPerActivation;  // Theano's default axes='per-activation'.
  std::vector<int64_t> explicit_axes;
  if (const nlohmann::json* axes = reader.Raw("axes"); axes != nullptr) {
    if (axes->is_string()) {
      const std::string s = axes->get<std::string>();
      if (s == "per-activation") {
        kind = AxesKind::kPerActivation;
      } else if (s == "spatial") {
        kind = AxesKind::kSpatial;
      } else {
        return reader.Error(absl::StrCat("invalid axes \"", s,
                                         "\"; expected \"per-activation\", \"spatial\" or a "
                                         "list of axes"));
      }
    } else if (axes->is_array()) {
      kind = AxesKind::kExplicit;
      for (const nlohmann::json& a : *axes) {
        if (!a.is_number_integer()) {
          return reader.Error(
              absl::StrCat("invalid axes ", axes->dump(), "; expected a list of integers"));
        }
        explicit_axes.push_back(a.get<int64_t>());
      }
      if (explicit_axes.empty()) {
        return reader.Error("there should be at least one normalization axis, got axes []");
      }
      if (*std::min_element(explicit_axes.begin(), explicit_axes.end()) < 0) {
        return reader.Error(absl::StrCat("axes must be non-negative, got ", axes->dump()));
      }
    } else {
      return reader.Error(absl::StrCat("invalid axes ", axes->dump(),
                                       "; expected \"per-activation\", \"spatial\" or a list of "
                                       "axes"));
    }
  }
  ASSIGN_OR_RETURN(double epsilon_attr, reader.Number("epsilon", 1e-4));
  RETURN_IF_ERROR(reader.Finish());
  // Theano casts epsilon to floatX first and then requires >= 1e-5 (a cuDNN
  // limit), so float32(1e-5) = 9.99999975e-06 is rejected.
  const T epsilon = static_cast<T>(epsilon_attr);
  if (!(epsilon >= 1e-5)) {
    return reader.Error(absl::StrCat("epsilon must be at least 1e-5, got ", epsilon_attr));
  }
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {"gamma", "beta", "mean", "var"}));
  static constexpr const char* kNames[] = {"gamma", "beta", "mean", "var"};
  for (size_t i = 1; i < params.size(); ++i) {
    if (params[i].shape() != params[0].shape()) {
      return LayerError(spec,
                        absl::StrCat(kNames[i], " has shape ", ShapeToString(params[i].shape()),
                                     " but gamma has ", ShapeToString(params[0].shape()),
                                     "; all four parameters must have the same shape"));
    }
  }
  return LayerPtr<T>(new BatchNormLayer<T>(std::move(spec), kind, std::move(explicit_axes), epsilon,
                                           std::move(params)));
}
template absl::StatusOr<LayerPtr<float>> MakeBatchNormalizationTest(LayerSpec,
                                                                    std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakeBatchNormalizationTest(LayerSpec,
                                                                     std::vector<Tensor<double>>);

}  // namespace theano_serving
