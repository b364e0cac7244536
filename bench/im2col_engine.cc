// What Theano's CorrMM does on the CPU, without Theano: for each image, im2col (one row per
// (channel, ky, kx) tap, one column per output pixel) and one cblas_sgemm with the filters; dense
// is one sgemm; bias, batch norm, residual sum and activation after a conv in one pass (Theano's
// fused Elemwise: the batch norm is not folded into the filters), pooling, LRN (Lasagne's
// formula), concatenation (copies, as Theano's Join) and softmax are plain loops over NCHW
// buffers, in the graph's order. Buffers are allocated at build time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "bench/engines.h"
#include "cblas.h"

namespace theano_serving::bench {
namespace {

int64_t Size(const Shape& s) { return NumElements(s); }

float Apply(Act act, float v) {
  switch (act) {
    case Act::kRelu:
      return v > 0.0f ? v : 0.0f;
    case Act::kTanh:
      return std::tanh(v);
    case Act::kNone:
      break;
  }
  return v;
}

class Im2colEngine : public Engine {
 public:
  Im2colEngine(const PeerNet& net, int64_t batch) : net_(net), batch_(batch) {
    values_.resize(net_.ops.size());
    size_t cols = 0;
    for (size_t i = 0; i < net_.ops.size(); ++i) {
      const PeerOp& op = net_.ops[i];
      values_[i].resize(static_cast<size_t>(batch_ * Size(op.out_shape)));
      if (op.kind == PeerOp::Kind::kConv) {
        const int64_t k = op.in_shape[0] * op.kernel[0] * op.kernel[1];
        cols = std::max(cols, static_cast<size_t>(k * op.out_shape[1] * op.out_shape[2]));
      }
    }
    cols_.resize(cols);
  }

  std::string name() const override {
    return absl::StrCat("im2col + ", absl::StripAsciiWhitespace(OPENBLAS_VERSION));
  }

  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) override {
    if (input.dim(0) != batch_ || input.size() != batch_ * Size(net_.item_shape)) {
      return absl::InvalidArgumentError("im2col engine: input of another shape");
    }
    input_ = input.data();
    for (size_t i = 0; i < net_.ops.size(); ++i) {
      const PeerOp& op = net_.ops[i];
      float* out = values_[i].data();
      switch (op.kind) {
        case PeerOp::Kind::kConv:
          Conv(op, out);
          break;
        case PeerOp::Kind::kPool:
          Pool(op, out);
          break;
        case PeerOp::Kind::kDense:
          Dense(op, out);
          break;
        case PeerOp::Kind::kBiasAct:
        case PeerOp::Kind::kAct:
        case PeerOp::Kind::kAdd:
          Elementwise(op, out);
          break;
        case PeerOp::Kind::kSoftmax:
          Softmax(op, out);
          break;
        case PeerOp::Kind::kBatchNorm:
          BatchNorm(op, out);
          break;
        case PeerOp::Kind::kLrn:
          Lrn(op, out);
          break;
        case PeerOp::Kind::kConcat:
          Concat(op, out);
          break;
      }
    }
    Shape shape = {batch_};
    shape.insert(shape.end(), net_.out_shape.begin(), net_.out_shape.end());
    output->Resize(std::move(shape));
    std::memcpy(output->data(), values_.back().data(), values_.back().size() * sizeof(float));
    return absl::OkStatus();
  }

 private:
  const float* In(int v) const { return v < 0 ? input_ : values_[static_cast<size_t>(v)].data(); }

  void Conv(const PeerOp& op, float* out) {
    const int64_t c = op.in_shape[0], h = op.in_shape[1], w = op.in_shape[2];
    const int64_t o = op.out_shape[0], oh = op.out_shape[1], ow = op.out_shape[2];
    const int64_t kh = op.kernel[0], kw = op.kernel[1], p = oh * ow, k = c * kh * kw;
    const float* sum = op.sum_input ? In(*op.sum_input) : nullptr;
    for (int64_t n = 0; n < batch_; ++n) {
      const float* x = In(op.inputs[0]) + n * c * h * w;
      float* col = cols_.data();
      for (int64_t ci = 0; ci < c; ++ci) {
        for (int64_t ky = 0; ky < kh; ++ky) {
          for (int64_t kx = 0; kx < kw; ++kx) {
            for (int64_t y = 0; y < oh; ++y) {
              const int64_t iy = y * op.stride[0] - op.pad_lo[0] + ky * op.dilation[0];
              for (int64_t xo = 0; xo < ow; ++xo) {
                const int64_t ix = xo * op.stride[1] - op.pad_lo[1] + kx * op.dilation[1];
                *col++ =
                    (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(ci * h + iy) * w + ix] : 0.0f;
              }
            }
          }
        }
      }
      float* y = out + n * o * p;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(o),
                  static_cast<int>(p), static_cast<int>(k), 1.0f, op.weights.data(),
                  static_cast<int>(k), cols_.data(), static_cast<int>(p), 0.0f, y,
                  static_cast<int>(p));
      // Theano's fused Elemwise after CorrMM: bias, batch norm, residual, activation in one pass.
      const float* s = sum != nullptr ? sum + n * o * p : nullptr;
      const bool bn = !op.bn_scale.empty();
      for (int64_t oc = 0; oc < o; ++oc) {
        const size_t ch = static_cast<size_t>(oc);
        const float b = op.bias.empty() ? 0.0f : op.bias[ch];
        const float scale = bn ? op.bn_scale[ch] : 1.0f, shift = bn ? op.bn_shift[ch] : 0.0f;
        for (int64_t i = 0; i < p; ++i) {
          float v = y[oc * p + i] + b;
          if (bn) v = v * scale + shift;
          if (s != nullptr) v += s[oc * p + i];
          y[oc * p + i] = Apply(op.act, v);
        }
      }
    }
  }

  void Pool(const PeerOp& op, float* out) const {
    const int64_t c = op.in_shape[0], h = op.in_shape[1], w = op.in_shape[2];
    const int64_t oh = op.out_shape[1], ow = op.out_shape[2];
    const float* x = In(op.inputs[0]);
    for (int64_t plane = 0; plane < batch_ * c; ++plane) {
      const float* xp = x + plane * h * w;
      for (int64_t y = 0; y < oh; ++y) {
        const int64_t y0 = y * op.stride[0] - op.pad_lo[0];
        const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + op.kernel[0], h);
        for (int64_t xo = 0; xo < ow; ++xo) {
          const int64_t x0 = xo * op.stride[1] - op.pad_lo[1];
          const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + op.kernel[1], w);
          float v;
          if (op.pool_mode == PeerOp::PoolMode::kMax) {
            v = -std::numeric_limits<float>::infinity();
            for (int64_t iy = ya; iy < yb; ++iy) {
              for (int64_t ix = xa; ix < xb; ++ix) v = std::max(v, xp[iy * w + ix]);
            }
          } else {
            float s = 0.0f;
            for (int64_t iy = ya; iy < yb; ++iy) {
              for (int64_t ix = xa; ix < xb; ++ix) s += xp[iy * w + ix];
            }
            const int64_t count = op.pool_mode == PeerOp::PoolMode::kAverageIncPad
                                      ? op.kernel[0] * op.kernel[1]
                                      : (yb - ya) * (xb - xa);
            v = s / static_cast<float>(count);
          }
          out[(plane * oh + y) * ow + xo] = Apply(op.act, v);
        }
      }
    }
  }

  void Dense(const PeerOp& op, float* out) const {
    const int64_t n_in = Size(op.in_shape), n_out = op.out_shape[0];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch_),
                static_cast<int>(n_out), static_cast<int>(n_in), 1.0f, In(op.inputs[0]),
                static_cast<int>(n_in), op.weights.data(), static_cast<int>(n_in), 0.0f, out,
                static_cast<int>(n_out));
    for (int64_t n = 0; n < batch_; ++n) {
      for (int64_t j = 0; j < n_out; ++j) {
        float& v = out[n * n_out + j];
        v = Apply(op.act, v + op.bias[static_cast<size_t>(j)]);
      }
    }
  }

  void Elementwise(const PeerOp& op, float* out) const {
    const float* a = In(op.inputs[0]);
    const float* b = op.kind == PeerOp::Kind::kAdd ? In(op.inputs[1]) : nullptr;
    const int64_t channels = op.in_shape[0], inner = Size(op.in_shape) / channels;
    const int64_t total = batch_ * Size(op.in_shape);
    for (int64_t i = 0; i < total; ++i) {
      float v = a[i];
      if (b != nullptr) v += b[i];
      if (!op.bias.empty()) v += op.bias[static_cast<size_t>((i / inner) % channels)];
      out[i] = Apply(op.act, v);
    }
  }

  void BatchNorm(const PeerOp& op, float* out) const {
    const float* x = In(op.inputs[0]);
    const int64_t channels = op.in_shape[0], inner = Size(op.in_shape) / channels;
    for (int64_t n = 0; n < batch_; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        const float scale = op.bn_scale[static_cast<size_t>(c)];
        const float shift = op.bn_shift[static_cast<size_t>(c)];
        const int64_t base = (n * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i)
          out[base + i] = Apply(op.act, x[base + i] * scale + shift);
      }
    }
  }

  // Lasagne's LocalResponseNormalization2DLayer: x / (k + alpha · Σ x²)^beta over the n channels
  // centred on x (channels beyond the edges count as 0).
  void Lrn(const PeerOp& op, float* out) const {
    const float* x = In(op.inputs[0]);
    const int64_t channels = op.in_shape[0], plane = op.in_shape[1] * op.in_shape[2];
    const int64_t half = op.lrn_n / 2;
    const float alpha = static_cast<float>(op.lrn_alpha), k = static_cast<float>(op.lrn_k);
    const float beta = static_cast<float>(op.lrn_beta);
    for (int64_t n = 0; n < batch_; ++n) {
      const float* xi = x + n * channels * plane;
      float* yi = out + n * channels * plane;
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t lo = std::max<int64_t>(0, c - half), hi = std::min(channels - 1, c + half);
        for (int64_t i = 0; i < plane; ++i) {
          float sum = 0.0f;
          for (int64_t j = lo; j <= hi; ++j) sum += xi[j * plane + i] * xi[j * plane + i];
          yi[c * plane + i] = xi[c * plane + i] / std::pow(k + alpha * sum, beta);
        }
      }
    }
  }

  void Concat(const PeerOp& op, float* out) const {
    for (int64_t n = 0; n < batch_; ++n) {
      for (int v : op.inputs) {
        const int64_t size = Size(ValueShape(net_, v));
        std::memcpy(out, In(v) + n * size, static_cast<size_t>(size) * sizeof(float));
        out += size;
      }
    }
  }

  void Softmax(const PeerOp& op, float* out) const {
    const int64_t k = op.out_shape[0];
    const float* x = In(op.inputs[0]);
    for (int64_t n = 0; n < batch_; ++n) {
      const float* row = x + n * k;
      float* o = out + n * k;
      const float m = *std::max_element(row, row + k);
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        o[j] = std::exp(row[j] - m);
        sum += o[j];
      }
      const double inv = 1.0 / sum;
      for (int64_t j = 0; j < k; ++j) o[j] = static_cast<float>(o[j] * inv);
    }
  }

  const PeerNet& net_;  // not copied: VGG-16's weights are 0.5 GB
  int64_t batch_;
  const float* input_ = nullptr;
  std::vector<std::vector<float>> values_;
  std::vector<float> cols_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> MakeIm2colBlasEngine(const PeerNet& net, int64_t batch) {
  return std::unique_ptr<Engine>(new Im2colEngine(net, batch));
}

}  // namespace theano_serving::bench
