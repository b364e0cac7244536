// OpenCV DNN: a cv::dnn::Net assembled layer by layer (addLayer + connect) from the PeerNet, with
// the OpenCV backend on the CPU target. OpenCV fuses conv + activation and conv + Eltwise sum +
// activation itself when the net is first set up (in the warm-up run), as it does for imported
// models. Batch norm comes folded into the convolutions (PeerNet lowering; OpenCV's importers
// would add a BatchNorm layer that OpenCV folds the same way at setup); one that no conv precedes
// is OpenCV's BatchNorm layer. LRN is OpenCV's LRN layer (ACROSS_CHANNELS, norm_by_size false:
// Lasagne's alpha is not divided by n), concatenation its Concat layer.
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/engines.h"
#include "opencv2/core.hpp"
#include "opencv2/dnn.hpp"

namespace theano_serving::bench {
namespace {

cv::Mat Blob(const std::vector<int>& sizes, const std::vector<float>& data) {
  cv::Mat m(static_cast<int>(sizes.size()), sizes.data(), CV_32F);
  std::memcpy(m.ptr<float>(), data.data(), data.size() * sizeof(float));
  return m;
}

void SetWindow(const PeerOp& op, cv::dnn::LayerParams* lp) {
  lp->set("kernel_h", static_cast<int>(op.kernel[0]));
  lp->set("kernel_w", static_cast<int>(op.kernel[1]));
  lp->set("stride_h", static_cast<int>(op.stride[0]));
  lp->set("stride_w", static_cast<int>(op.stride[1]));
  lp->set("pad_t", static_cast<int>(op.pad_lo[0]));
  lp->set("pad_l", static_cast<int>(op.pad_lo[1]));
  lp->set("pad_b", static_cast<int>(op.pad_hi[0]));
  lp->set("pad_r", static_cast<int>(op.pad_hi[1]));
}

class OpenCvEngine : public Engine {
 public:
  explicit OpenCvEngine(int64_t batch) : batch_(batch) {}
  std::string name() const override { return absl::StrCat("OpenCV DNN ", CV_VERSION); }

  // Throws cv::Exception when OpenCV refuses a layer.
  absl::Status Build(const PeerNet& net) {
    item_shape_ = net.item_shape;
    net_.setInputsNames({"data"});
    std::vector<int> ids(net.ops.size());
    auto id_of = [&ids](int v) { return v < 0 ? 0 : ids[static_cast<size_t>(v)]; };
    for (size_t i = 0; i < net.ops.size(); ++i) {
      const PeerOp& op = net.ops[i];
      cv::dnn::LayerParams lp;
      int id = -1;
      switch (op.kind) {
        case PeerOp::Kind::kConv: {
          if (!op.bn_scale.empty()) {
            return absl::UnimplementedError(
                absl::StrCat(op.name, ": batch norm not folded (lower with fold_batch_norm)"));
          }
          const int o = static_cast<int>(op.out_shape[0]), c = static_cast<int>(op.in_shape[0]);
          SetWindow(op, &lp);
          lp.set("dilation_h", static_cast<int>(op.dilation[0]));
          lp.set("dilation_w", static_cast<int>(op.dilation[1]));
          lp.set("num_output", o);
          lp.set("group", 1);
          lp.set("bias_term", !op.bias.empty());
          lp.blobs.push_back(Blob(
              {o, c, static_cast<int>(op.kernel[0]), static_cast<int>(op.kernel[1])}, op.weights));
          if (!op.bias.empty()) lp.blobs.push_back(Blob({1, o}, op.bias));
          int src = id_of(op.inputs[0]);
          if (op.pad_lo != op.pad_hi) {
            // OpenCV 4.6's convolution refuses asymmetric padding ("Unsupported asymmetric
            // padding"); its ONNX importer pads with a separate Padding layer, and so do we.
            const int pads[8] = {0,
                                 0,
                                 0,
                                 0,
                                 static_cast<int>(op.pad_lo[0]),
                                 static_cast<int>(op.pad_hi[0]),
                                 static_cast<int>(op.pad_lo[1]),
                                 static_cast<int>(op.pad_hi[1])};
            cv::dnn::LayerParams pad;
            pad.set("paddings", cv::dnn::DictValue::arrayInt(pads, 8));
            src = Add(op.name + "_pad", "Padding", pad, {src});
            for (const char* key : {"pad_t", "pad_l", "pad_b", "pad_r"}) lp.set(key, 0);
          }
          id = Add(op.name, "Convolution", lp, {src});
          if (op.sum_input) {
            cv::dnn::LayerParams sum;
            sum.set("operation", "sum");
            id = Add(op.name + "_sum", "Eltwise", sum, {id, id_of(*op.sum_input)});
          }
          break;
        }
        case PeerOp::Kind::kPool:
          SetWindow(op, &lp);
          lp.set("pool", op.pool_mode == PeerOp::PoolMode::kMax ? "max" : "ave");
          lp.set("ceil_mode", false);  // PeerNet's padding already encodes Theano's sizes
          lp.set("ave_pool_padded_area", op.pool_mode == PeerOp::PoolMode::kAverageIncPad);
          id = Add(op.name, "Pooling", lp, {id_of(op.inputs[0])});
          break;
        case PeerOp::Kind::kDense: {
          const int n_out = static_cast<int>(op.out_shape[0]);
          const int n_in = static_cast<int>(op.weights.size()) / n_out;
          lp.set("num_output", n_out);
          lp.set("bias_term", true);
          lp.set("axis", 1);
          lp.blobs.push_back(Blob({n_out, n_in}, op.weights));
          lp.blobs.push_back(Blob({1, n_out}, op.bias));
          id = Add(op.name, "InnerProduct", lp, {id_of(op.inputs[0])});
          break;
        }
        case PeerOp::Kind::kBiasAct:
          return absl::UnimplementedError(
              absl::StrCat(op.name, ": a bias_add that is not folded into a conv or dense"));
        case PeerOp::Kind::kAct:
          id = id_of(op.inputs[0]);
          break;
        case PeerOp::Kind::kAdd:
          lp.set("operation", "sum");
          id = Add(op.name, "Eltwise", lp, {id_of(op.inputs[0]), id_of(op.inputs[1])});
          break;
        case PeerOp::Kind::kSoftmax:
          lp.set("axis", 1);
          id = Add(op.name, "Softmax", lp, {id_of(op.inputs[0])});
          break;
        case PeerOp::Kind::kBatchNorm: {
          // (x − mean) / sqrt(var + eps) · weight + bias with mean 0, var 1, eps 0.
          const int c = static_cast<int>(op.bn_scale.size());
          lp.set("has_weight", true);
          lp.set("has_bias", true);
          lp.set("eps", 0.0f);
          lp.blobs.push_back(Blob({1, c}, std::vector<float>(static_cast<size_t>(c), 0.0f)));
          lp.blobs.push_back(Blob({1, c}, std::vector<float>(static_cast<size_t>(c), 1.0f)));
          lp.blobs.push_back(Blob({1, c}, op.bn_scale));
          lp.blobs.push_back(Blob({1, c}, op.bn_shift));
          id = Add(op.name, "BatchNorm", lp, {id_of(op.inputs[0])});
          break;
        }
        case PeerOp::Kind::kLrn:
          lp.set("norm_region", "ACROSS_CHANNELS");
          lp.set("local_size", static_cast<int>(op.lrn_n));
          lp.set("alpha", op.lrn_alpha);
          lp.set("beta", op.lrn_beta);
          lp.set("bias", op.lrn_k);
          lp.set("norm_by_size", false);
          id = Add(op.name, "LRN", lp, {id_of(op.inputs[0])});
          break;
        case PeerOp::Kind::kConcat: {
          lp.set("axis", 1);
          std::vector<int> inputs;
          for (int v : op.inputs) inputs.push_back(id_of(v));
          id = Add(op.name, "Concat", lp, inputs);
          break;
        }
      }
      if (op.act != Act::kNone) {
        cv::dnn::LayerParams act;
        id =
            Add(op.name + "_" + ActName(op.act), op.act == Act::kRelu ? "ReLU" : "TanH", act, {id});
      }
      ids[i] = id;
    }
    out_shape_ = {batch_};
    out_shape_.insert(out_shape_.end(), net.out_shape.begin(), net.out_shape.end());
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return absl::OkStatus();
  }

  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) override {
    std::vector<int> sizes = {static_cast<int>(batch_)};
    for (int64_t d : item_shape_) sizes.push_back(static_cast<int>(d));
    if (input.dim(0) != batch_ || input.rank() != static_cast<int>(sizes.size())) {
      return absl::InvalidArgumentError("OpenCV engine: input of another shape");
    }
    const cv::Mat blob(static_cast<int>(sizes.size()), sizes.data(), CV_32F,
                       const_cast<float*>(input.data()));
    try {
      net_.setInput(blob, "data");
      const cv::Mat out = net_.forward(last_name_);
      output->Resize(out_shape_);
      if (static_cast<int64_t>(out.total()) != output->size() || !out.isContinuous()) {
        return absl::InternalError("OpenCV engine: unexpected output size");
      }
      std::memcpy(output->data(), out.ptr<float>(), out.total() * sizeof(float));
    } catch (const cv::Exception& e) {
      return absl::InternalError(absl::StrCat("OpenCV DNN: ", e.what()));
    }
    return absl::OkStatus();
  }

 private:
  int Add(const std::string& name, const std::string& type, cv::dnn::LayerParams& lp,
          const std::vector<int>& inputs) {
    lp.name = name;
    lp.type = type;
    const int id = net_.addLayer(name, type, lp);
    for (size_t k = 0; k < inputs.size(); ++k) {
      net_.connect(inputs[k], 0, id, static_cast<int>(k));
    }
    last_name_ = name;
    return id;
  }

  int64_t batch_;
  Shape item_shape_, out_shape_;
  cv::dnn::Net net_;
  std::string last_name_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> MakeOpenCvEngine(const PeerNet& net, int64_t batch) {
  auto engine = std::make_unique<OpenCvEngine>(batch);
  try {
    absl::Status s = engine->Build(net);
    if (!s.ok()) return s;
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("OpenCV DNN refused the network: ", e.what()));
  }
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace theano_serving::bench
