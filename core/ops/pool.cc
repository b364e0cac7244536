#include "core/ops/pool.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

template <typename T>
class Pool2dLayer final : public Layer<T> {
 public:
  Pool2dLayer(LayerSpec spec, PoolConfig config)
      : Layer<T>(std::move(spec)), config_(std::move(config)) {}

  absl::StatusOr<Shape> OutputShape(absl::Span<const Shape> inputs) const override {
    if (inputs.size() != 1) {
      return LayerError(this->spec(), absl::StrCat("takes 1 input, got ", inputs.size()));
    }
    const Shape& in = inputs[0];
    if (in.size() < 2) {
      return LayerError(this->spec(),
                        absl::StrCat("input must have at least 2 dimensions (pool_2d pools the "
                                     "last two), got shape ",
                                     ShapeToString(in)));
    }
    return Output(in);
  }

  void Run(absl::Span<const Tensor<T>* const> inputs, Tensor<T>* output) const override {
    const Tensor<T>& input = *inputs[0];
    const Shape& in_shape = input.shape();
    const size_t r = in_shape.size();
    const int64_t in_h = in_shape[r - 2];
    const int64_t in_w = in_shape[r - 1];
    const Shape out_shape = Output(in_shape);
    const int64_t out_h = out_shape[r - 2];
    const int64_t out_w = out_shape[r - 1];
    // Every leading axis (batch, channels, ...) is just another plane.
    int64_t num_planes = 1;
    for (size_t d = 0; d + 2 < r; ++d) num_planes *= in_shape[d];

    for (int64_t p = 0; p < num_planes; ++p) {
      const T* in = input.data() + p * in_h * in_w;
      T* out = output->data() + p * out_h * out_w;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const PoolWindow wy =
            ClippedPoolWindow(oy, in_h, config_.ws[0], config_.stride[0], config_.pad[0]);
        for (int64_t ox = 0; ox < out_w; ++ox) {
          const PoolWindow wx =
              ClippedPoolWindow(ox, in_w, config_.ws[1], config_.stride[1], config_.pad[1]);
          T result;
          if (config_.mode == PoolMode::kMax) {
            // Theano starts from the window's first element and keeps `a > m ?
            // a : m`.
            if (wy.begin >= wy.end || wx.begin >= wx.end) {
              result = -std::numeric_limits<T>::infinity();  // Empty image only.
            } else {
              result = in[wy.begin * in_w + wx.begin];
              for (int64_t y = wy.begin; y < wy.end; ++y) {
                for (int64_t x = wx.begin; x < wx.end; ++x) {
                  const T a = in[y * in_w + x];
                  result = a > result ? a : result;
                }
              }
            }
          } else {
            T sum = 0;  // Accumulated in T, row by row, as Theano's C code does.
            for (int64_t y = wy.begin; y < wy.end; ++y) {
              for (int64_t x = wx.begin; x < wx.end; ++x) sum += in[y * in_w + x];
            }
            result = config_.mode == PoolMode::kSum
                         ? sum
                         : sum / static_cast<T>(PoolDivisor(config_.mode, config_.ignore_border,
                                                            config_.ws[0], config_.ws[1], wy, wx));
          }
          out[oy * out_w + ox] = result;
        }
      }
    }
  }

  Lowering<T> Lower(absl::Span<const Shape> inputs) const override {
    Lowering<T> l;
    if (inputs.size() != 1 || inputs[0].size() != 4) return l;
    l.kind = LoweredKind::kPool;
    l.pool = config_;
    return l;
  }

  int64_t Flops(absl::Span<const Shape> inputs) const override {
    if (inputs.size() != 1 || inputs[0].size() < 2) return 0;
    // One comparison or addition per window element.
    return NumElements(Output(inputs[0])) * config_.ws[0] * config_.ws[1];
  }

 private:
  Shape Output(const Shape& in) const {
    Shape out = in;
    const size_t r = in.size();
    out[r - 2] = PoolOutputSize(in[r - 2], config_.ws[0], config_.stride[0], config_.pad[0],
                                config_.ignore_border);
    out[r - 1] = PoolOutputSize(in[r - 1], config_.ws[1], config_.stride[1], config_.pad[1],
                                config_.ignore_border);
    return out;
  }

  PoolConfig config_;
};

std::string PairText(const std::array<int64_t, 2>& p) {
  return absl::StrCat("[", p[0], ", ", p[1], "]");
}

}  // namespace

template <typename T>
absl::StatusOr<LayerPtr<T>> MakePool2d(LayerSpec spec, std::vector<Tensor<T>> params) {
  RETURN_IF_ERROR(ExpectParamCount(spec, params.size(), {}));
  PoolConfig config;
  AttrReader reader(spec);
  ASSIGN_OR_RETURN(config.ws, reader.IntPair("ws", std::nullopt));
  if (config.ws[0] < 1 || config.ws[1] < 1) {
    return reader.Error(absl::StrCat("attribute ws must be a pair of positive integers, got ",
                                     PairText(config.ws)));
  }
  ASSIGN_OR_RETURN(config.stride, reader.IntPair("stride", config.ws));  // null = ws
  if (config.stride[0] < 1 || config.stride[1] < 1) {
    return reader.Error(absl::StrCat("attribute stride must be a pair of positive integers, got ",
                                     PairText(config.stride)));
  }
  ASSIGN_OR_RETURN(config.pad, reader.IntPair("pad", std::array<int64_t, 2>{0, 0}));
  if (config.pad[0] < 0 || config.pad[1] < 0) {
    return reader.Error(absl::StrCat("attribute pad must be a pair of non-negative integers, got ",
                                     PairText(config.pad)));
  }
  // Theano 1.0.5's pool_2d default (with a warning) is ignore_border=False.
  ASSIGN_OR_RETURN(config.ignore_border, reader.Bool("ignore_border", false));
  ASSIGN_OR_RETURN(std::string mode, reader.String("mode", std::string("max")));
  if (mode == "max") {
    config.mode = PoolMode::kMax;
  } else if (mode == "sum") {
    config.mode = PoolMode::kSum;
  } else if (mode == "average_inc_pad") {
    config.mode = PoolMode::kAverageIncPad;
  } else if (mode == "average_exc_pad") {
    config.mode = PoolMode::kAverageExcPad;
  } else {
    return reader.Error(
        absl::StrCat("attribute mode must be \"max\", \"sum\", \"average_inc_pad\" "
                     "or \"average_exc_pad\", got \"",
                     mode, "\""));
  }
  RETURN_IF_ERROR(reader.Finish());
  if ((config.pad[0] != 0 || config.pad[1] != 0) && !config.ignore_border) {
    // Theano: "padding works only with ignore_border=True".
    return reader.Error(absl::StrCat("pad ", PairText(config.pad),
                                     " requires ignore_border=true, got ignore_border=false"));
  }
  if (config.pad[0] >= config.ws[0] || config.pad[1] >= config.ws[1]) {
    // Theano: "padding must be smaller than strides" (it compares with ws).
    return reader.Error(absl::StrCat("pad ", PairText(config.pad), " must be smaller than ws ",
                                     PairText(config.ws)));
  }
  return LayerPtr<T>(new Pool2dLayer<T>(std::move(spec), config));
}
template absl::StatusOr<LayerPtr<float>> MakePool2d(LayerSpec, std::vector<Tensor<float>>);
template absl::StatusOr<LayerPtr<double>> MakePool2d(LayerSpec, std::vector<Tensor<double>>);

}  // namespace theano_serving
