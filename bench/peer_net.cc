#include "bench/peer_net.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "core/status_macros.h"

namespace theano_serving::bench {
namespace {

using nlohmann::json;

absl::Status Unsupported(const LayerSpec& spec, const std::string& what) {
  return absl::UnimplementedError(
      absl::StrCat(spec.Describe(), ": the peer engines are not given ", what));
}

std::array<int64_t, 2> Pair(const json& attrs, const char* key, std::array<int64_t, 2> def) {
  if (!attrs.contains(key) || attrs[key].is_null()) return def;
  const json& v = attrs[key];
  if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
  return {v[0].get<int64_t>(), v[1].get<int64_t>()};
}

// Theano's border_mode for one axis → (lo, hi) padding, via core/shape's ConvPadding.
absl::StatusOr<AxisPadding> BorderPadding(const LayerSpec& spec, const json& mode, int axis,
                                          int64_t k, int64_t dilation) {
  if (mode.is_string()) {
    const std::string m = mode.get<std::string>();
    BorderMode bm;
    if (m == "valid") {
      bm = BorderMode::kValid;
    } else if (m == "full") {
      bm = BorderMode::kFull;
    } else if (m == "half") {
      bm = BorderMode::kHalf;
    } else {
      return Unsupported(spec, absl::StrCat("border_mode \"", m, "\""));
    }
    return ConvPadding(bm, k, dilation, {});
  }
  if (mode.is_number_integer()) {
    return AxisPadding{mode.get<int64_t>(), mode.get<int64_t>()};
  }
  if (mode.is_array() && mode.size() == 2) {
    const json& e = mode[static_cast<size_t>(axis)];
    if (e.is_number_integer()) return AxisPadding{e.get<int64_t>(), e.get<int64_t>()};
    if (e.is_array() && e.size() == 2) {
      return AxisPadding{e[0].get<int64_t>(), e[1].get<int64_t>()};
    }
  }
  return Unsupported(spec, absl::StrCat("border_mode ", mode.dump()));
}

absl::Status LowerConv(const LayerSpec& spec, const Tensor<float>& w, PeerOp* op) {
  const json& a = spec.attrs;
  if (a.contains("num_groups") && !a["num_groups"].is_null() && a["num_groups"] != 1) {
    return Unsupported(spec, "num_groups > 1");
  }
  const int64_t o = w.dim(0), c = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  op->kind = PeerOp::Kind::kConv;
  op->kernel = {kh, kw};
  op->stride = Pair(a, "subsample", {1, 1});
  op->dilation = Pair(a, "filter_dilation", {1, 1});
  const json mode =
      a.contains("border_mode") && !a["border_mode"].is_null() ? a["border_mode"] : json("valid");
  for (int axis = 0; axis < 2; ++axis) {
    ASSIGN_OR_RETURN(AxisPadding pad,
                     BorderPadding(spec, mode, axis, op->kernel[axis], op->dilation[axis]));
    op->pad_lo[static_cast<size_t>(axis)] = pad.lo;
    op->pad_hi[static_cast<size_t>(axis)] = pad.hi;
  }
  const bool flip =
      !a.contains("filter_flip") || a["filter_flip"].is_null() || a["filter_flip"].get<bool>();
  op->weights.resize(static_cast<size_t>(w.size()));
  // Theano's filter_flip=true is a true convolution: the peers cross-correlate, so rotate the
  // kernel by 180° once.
  for (int64_t i = 0; i < o * c; ++i) {
    for (int64_t y = 0; y < kh; ++y) {
      for (int64_t x = 0; x < kw; ++x) {
        const int64_t sy = flip ? kh - 1 - y : y, sx = flip ? kw - 1 - x : x;
        op->weights[static_cast<size_t>((i * kh + y) * kw + x)] = w.data()[(i * kh + sy) * kw + sx];
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LowerPool(const LayerSpec& spec, PeerOp* op) {
  const json& a = spec.attrs;
  op->kind = PeerOp::Kind::kPool;
  op->kernel = Pair(a, "ws", {1, 1});
  op->stride = Pair(a, "stride", op->kernel);
  const std::array<int64_t, 2> pad = Pair(a, "pad", {0, 0});
  const bool ignore_border = a.contains("ignore_border") && !a["ignore_border"].is_null() &&
                             a["ignore_border"].get<bool>();
  const std::string mode = a.contains("mode") && !a["mode"].is_null() ? a["mode"].get<std::string>()
                                                                      : std::string("max");
  if (mode == "max") {
    op->pool_mode = PeerOp::PoolMode::kMax;
  } else if (mode == "average_exc_pad" || (mode == "average_inc_pad" && !ignore_border)) {
    // Without ignore_border Theano divides a partial window by its clipped size in both modes.
    op->pool_mode = PeerOp::PoolMode::kAverageExcPad;
  } else if (mode == "average_inc_pad") {
    op->pool_mode = PeerOp::PoolMode::kAverageIncPad;
  } else {
    return Unsupported(spec, absl::StrCat("pool mode \"", mode, "\""));
  }
  for (size_t axis = 0; axis < 2; ++axis) {
    const int64_t in = op->in_shape[axis + 1], out = op->out_shape[axis + 1];
    if (ignore_border) {
      op->pad_lo[axis] = op->pad_hi[axis] = pad[axis];
    } else {
      // Theano keeps the last, partial window: pad the end so a peer's floor formula has it.
      op->pad_lo[axis] = 0;
      op->pad_hi[axis] = std::max<int64_t>(0, (out - 1) * op->stride[axis] + op->kernel[axis] - in);
    }
  }
  return absl::OkStatus();
}

// batch_norm_inv_std normalizing every axis but 1 (Lasagne's axes='auto'): the only form the
// peers are given, as a per-channel scale and shift.
absl::Status LowerBatchNorm(const LayerSpec& spec, const std::vector<const Tensor<float>*>& p,
                            const Shape& in_shape, PeerOp* op) {
  const size_t rank = in_shape.size() + 1;  // with the batch axis
  bool per_channel = true;
  if (spec.attrs.contains("axes") && !spec.attrs["axes"].is_null()) {
    const json& axes = spec.attrs["axes"];
    if (axes.is_string()) {
      const std::string a = axes.get<std::string>();
      per_channel = a == "auto" || a == "spatial" || (a == "per-activation" && rank == 2);
    } else {
      std::vector<int64_t> want = {0};
      for (size_t k = 2; k < rank; ++k) want.push_back(static_cast<int64_t>(k));
      std::vector<int64_t> got;
      if (axes.is_number_integer()) {
        got = {axes.get<int64_t>()};
      } else {
        for (const json& v : axes) got.push_back(v.get<int64_t>());
      }
      std::sort(got.begin(), got.end());
      per_channel = got == want;
    }
  }
  if (!per_channel) return Unsupported(spec, "batch norm over other axes than all but 1");
  const size_t c = static_cast<size_t>(in_shape.at(0));
  for (const Tensor<float>* t : p) {
    if (static_cast<size_t>(t->size()) != c) return Unsupported(spec, "batch norm parameters");
  }
  op->bn_scale.resize(c);
  op->bn_shift.resize(c);
  for (size_t i = 0; i < c; ++i) {
    const double scale = double{p[0]->data()[i]} * p[3]->data()[i];  // gamma · inv_std
    op->bn_scale[i] = static_cast<float>(scale);
    op->bn_shift[i] = static_cast<float>(p[1]->data()[i] - p[2]->data()[i] * scale);
  }
  return absl::OkStatus();
}

// Folds a batch norm (gamma, beta, mean, inv_std) into `conv`: W' = W · s per output channel,
// b' = (b − mean) · s + beta, with s = gamma · inv_std, all in double.
void FoldBatchNorm(const std::vector<const Tensor<float>*>& p, PeerOp* conv) {
  const size_t o = static_cast<size_t>(conv->out_shape[0]);
  const size_t per_filter = conv->weights.size() / o;
  std::vector<float> bias(o);
  for (size_t i = 0; i < o; ++i) {
    const double scale = double{p[0]->data()[i]} * p[3]->data()[i];
    for (size_t k = 0; k < per_filter; ++k) {
      float& w = conv->weights[i * per_filter + k];
      w = static_cast<float>(w * scale);
    }
    const double b = conv->bias.empty() ? 0.0 : conv->bias[i];
    bias[i] = static_cast<float>((b - p[2]->data()[i]) * scale + p[1]->data()[i]);
  }
  conv->bias = std::move(bias);
}

// The reduced axes of a `mean` (negative from the end of a value of `rank` axes, batch
// included), sorted; empty if the attribute is malformed.
std::vector<int64_t> ReducedAxes(const json& attrs, size_t rank) {
  std::vector<int64_t> axes;
  if (!attrs.contains("axis")) return axes;
  const json& a = attrs["axis"];
  if (a.is_number_integer()) {
    axes.push_back(a.get<int64_t>());
  } else if (a.is_array()) {
    for (const json& v : a) {
      if (!v.is_number_integer()) return {};
      axes.push_back(v.get<int64_t>());
    }
  }
  for (int64_t& v : axes) {
    if (v < 0) v += static_cast<int64_t>(rank);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

}  // namespace

const char* ActName(Act act) {
  switch (act) {
    case Act::kRelu:
      return "relu";
    case Act::kTanh:
      return "tanh";
    case Act::kNone:
      break;
  }
  return "none";
}

std::vector<int> ReaderCounts(const PeerNet& net) {
  std::vector<int> count(net.ops.size() + 1, 0);
  for (const PeerOp& op : net.ops) {
    for (int v : op.inputs) ++count[static_cast<size_t>(v + 1)];
    if (op.sum_input) ++count[static_cast<size_t>(*op.sum_input + 1)];
  }
  return count;
}

const Shape& ValueShape(const PeerNet& net, int v) {
  return v < 0 ? net.item_shape : net.ops[static_cast<size_t>(v)].out_shape;
}

std::vector<int> LastUses(const PeerNet& net) {
  std::vector<int> last(net.ops.size() + 1, -1);
  for (size_t i = 0; i < net.ops.size(); ++i) {
    for (int v : net.ops[i].inputs) last[static_cast<size_t>(v + 1)] = static_cast<int>(i);
    if (net.ops[i].sum_input) {
      last[static_cast<size_t>(*net.ops[i].sum_input + 1)] = static_cast<int>(i);
    }
  }
  return last;
}

absl::StatusOr<PeerNet> Lower(const BenchModel& model, const LowerOptions& options) {
  const std::vector<LayerSpec>& specs = model.specs;
  const size_t n = specs.size();
  // Graph wiring, as Graph::Build resolves it.
  std::map<std::string, int> names = {{"input", -1}};
  std::vector<std::vector<int>> spec_inputs(n);
  std::vector<int> consumers(n, 0);
  std::vector<int> reader(n, -1);  // the last spec reading spec j
  for (size_t i = 0; i < n; ++i) {
    if (specs[i].inputs.empty()) {
      spec_inputs[i] = {static_cast<int>(i) - 1};
    } else {
      for (const std::string& name : specs[i].inputs) spec_inputs[i].push_back(names.at(name));
    }
    for (int j : spec_inputs[i]) {
      if (j < 0) continue;
      ++consumers[static_cast<size_t>(j)];
      reader[static_cast<size_t>(j)] = static_cast<int>(i);
    }
    if (!specs[i].name.empty()) names[specs[i].name] = static_cast<int>(i);
  }
  Shape one = {1};
  one.insert(one.end(), model.item_shape.begin(), model.item_shape.end());
  ASSIGN_OR_RETURN(std::vector<LayerSummary> summary, model.graph->Describe(one));

  PeerNet net;
  net.item_shape = model.item_shape;
  net.out_shape = Shape(summary.back().output_shape.begin() + 1, summary.back().output_shape.end());
  std::vector<bool> flat3(n, false);  // a flatten(ndim 3) left to the global `mean` reading it
  std::vector<PeerOp>& ops = net.ops;
  std::vector<int> value(n);  // spec → value id
  std::vector<int> tail;      // op → the last spec folded into it
  auto shape_of = [&](int v) {
    return v < 0 ? model.item_shape : ops[static_cast<size_t>(v)].out_shape;
  };
  // True if spec j's output is read by one layer only (so it may be fused away).
  auto sole = [&](int j) { return j >= 0 && consumers[static_cast<size_t>(j)] == 1; };
  auto param = [&](const LayerSpec& spec, size_t k) -> const Tensor<float>& {
    return model.params.at(spec.params[k]);
  };

  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& spec = specs[i];
    const std::vector<int>& in = spec_inputs[i];
    const int v0 = in[0] < 0 ? -1 : value[static_cast<size_t>(in[0])];
    PeerOp* p = v0 >= 0 ? &ops[static_cast<size_t>(v0)] : nullptr;
    const bool fusable = options.fuse && p != nullptr && sole(in[0]) && p->act == Act::kNone;
    auto params = [&]() {
      std::vector<const Tensor<float>*> out;
      for (size_t k = 0; k < spec.params.size(); ++k) out.push_back(&param(spec, k));
      return out;
    };
    PeerOp op;
    op.name = spec.name.empty() ? absl::StrCat(spec.op, i) : spec.name;
    op.inputs = {v0};
    op.in_shape = shape_of(v0);
    op.out_shape = Shape(summary[i].output_shape.begin() + 1, summary[i].output_shape.end());

    if (spec.op == "conv2d") {
      RETURN_IF_ERROR(LowerConv(spec, param(spec, 0), &op));
    } else if (spec.op == "pool_2d") {
      RETURN_IF_ERROR(LowerPool(spec, &op));
    } else if (spec.op == "bias_add") {
      if (spec.attrs.contains("axis") && spec.attrs["axis"] != 1) {
        return Unsupported(spec, "bias_add on an axis other than 1");
      }
      const std::vector<float>& b = param(spec, 0).values();
      if (fusable && (p->kind == PeerOp::Kind::kConv || p->kind == PeerOp::Kind::kDense) &&
          p->bias.empty() && p->bn_scale.empty() && !p->sum_input) {
        p->bias = b;
        value[i] = v0;
        tail[static_cast<size_t>(v0)] = static_cast<int>(i);
        continue;
      }
      if (fusable && options.hoist_bias_over_max_pool && p->kind == PeerOp::Kind::kPool &&
          p->pool_mode == PeerOp::PoolMode::kMax && p->inputs[0] >= 0) {
        PeerOp& conv = ops[static_cast<size_t>(p->inputs[0])];
        if (conv.kind == PeerOp::Kind::kConv && conv.bias.empty() && conv.bn_scale.empty() &&
            conv.act == Act::kNone && !conv.sum_input &&
            sole(tail[static_cast<size_t>(p->inputs[0])])) {
          conv.bias = b;
          value[i] = v0;
          tail[static_cast<size_t>(v0)] = static_cast<int>(i);
          continue;
        }
      }
      op.kind = PeerOp::Kind::kBiasAct;
      op.bias = b;
    } else if (spec.op == "relu" || spec.op == "tanh") {
      if (spec.op == "relu" && spec.attrs.contains("alpha") && spec.attrs["alpha"] != 0) {
        return Unsupported(spec, "relu with alpha != 0");
      }
      const Act act = spec.op == "relu" ? Act::kRelu : Act::kTanh;
      if (fusable && p->kind != PeerOp::Kind::kSoftmax && p->kind != PeerOp::Kind::kAct &&
          p->kind != PeerOp::Kind::kLrn && p->kind != PeerOp::Kind::kConcat) {
        p->act = act;
        value[i] = v0;
        tail[static_cast<size_t>(v0)] = static_cast<int>(i);
        continue;
      }
      op.kind = PeerOp::Kind::kAct;
      op.act = act;
    } else if (spec.op == "flatten") {
      const json ndim = spec.attrs.contains("ndim") ? spec.attrs["ndim"] : json(1);
      if (ndim == 3 && op.in_shape.size() == 3 && sole(static_cast<int>(i)) &&
          specs[static_cast<size_t>(reader[i])].op == "mean") {
        flat3[i] = true;  // (C, H·W) of Lasagne's GlobalPoolLayer: the `mean` reads the image
        value[i] = v0;
        if (v0 >= 0) tail[static_cast<size_t>(v0)] = static_cast<int>(i);
        continue;
      }
      if (ndim != 2) return Unsupported(spec, "flatten with ndim != 2");
      value[i] = v0;  // NCHW data is already (N, C·H·W)
      if (v0 >= 0) tail[static_cast<size_t>(v0)] = static_cast<int>(i);
      continue;
    } else if (spec.op == "dense") {
      const Tensor<float>& w = param(spec, 0);
      const int64_t n_in = w.dim(0), n_out = w.dim(1);
      op.kind = PeerOp::Kind::kDense;
      op.weights.resize(static_cast<size_t>(w.size()));
      for (int64_t r = 0; r < n_in; ++r) {
        for (int64_t c = 0; c < n_out; ++c) {
          op.weights[static_cast<size_t>(c * n_in + r)] = w.data()[r * n_out + c];
        }
      }
      op.bias = param(spec, 1).values();
    } else if (spec.op == "add") {
      if (in.size() != 2) return Unsupported(spec, "add of more than two inputs");
      const int va = in[0] < 0 ? -1 : value[static_cast<size_t>(in[0])];
      const int vb = in[1] < 0 ? -1 : value[static_cast<size_t>(in[1])];
      // Fold into whichever input is a conv computed after the other (a peer adds the other
      // value in the conv's epilogue, oneDNN's sum post-op).
      bool folded = false;
      for (int k = 0; k < 2 && options.fuse && !folded; ++k) {
        const int vc = k == 0 ? va : vb, vo = k == 0 ? vb : va, sc = in[static_cast<size_t>(k)];
        if (vc < 0 || vc <= vo || !sole(sc)) continue;
        PeerOp& conv = ops[static_cast<size_t>(vc)];
        if (conv.kind != PeerOp::Kind::kConv || conv.act != Act::kNone || conv.sum_input) {
          continue;
        }
        conv.sum_input = vo;
        value[i] = vc;
        tail[static_cast<size_t>(vc)] = static_cast<int>(i);
        folded = true;
      }
      if (folded) continue;
      op.kind = PeerOp::Kind::kAdd;
      op.inputs = {va, vb};
    } else if (spec.op == "softmax") {
      op.kind = PeerOp::Kind::kSoftmax;
    } else if (spec.op == "batch_norm_inv_std") {
      const std::vector<const Tensor<float>*> bn = params();
      RETURN_IF_ERROR(LowerBatchNorm(spec, bn, op.in_shape, &op));
      if (fusable && p->kind == PeerOp::Kind::kConv && p->bn_scale.empty() && !p->sum_input) {
        if (options.fold_batch_norm) {
          FoldBatchNorm(bn, p);
        } else {
          p->bn_scale = std::move(op.bn_scale);
          p->bn_shift = std::move(op.bn_shift);
        }
        value[i] = v0;
        tail[static_cast<size_t>(v0)] = static_cast<int>(i);
        continue;
      }
      op.kind = PeerOp::Kind::kBatchNorm;
    } else if (spec.op == "local_response_normalization") {
      if (op.in_shape.size() != 3) return Unsupported(spec, "LRN of a value that is not 4-D");
      const json& a = spec.attrs;
      auto number = [&a](const char* key, double def) {
        return a.contains(key) && !a[key].is_null() ? a[key].get<double>() : def;
      };
      op.kind = PeerOp::Kind::kLrn;
      op.lrn_alpha = number("alpha", 1e-4);
      op.lrn_k = number("k", 2.0);
      op.lrn_beta = number("beta", 0.75);
      op.lrn_n = static_cast<int64_t>(number("n", 5));
    } else if (spec.op == "concatenate") {
      const size_t rank = op.in_shape.size() + 1;
      int64_t axis = spec.attrs.contains("axis") && !spec.attrs["axis"].is_null()
                         ? spec.attrs["axis"].get<int64_t>()
                         : 1;
      if (axis < 0) axis += static_cast<int64_t>(rank);
      if (axis != 1) return Unsupported(spec, "concatenate on an axis other than 1");
      op.kind = PeerOp::Kind::kConcat;
      op.inputs.clear();
      for (int j : in) op.inputs.push_back(j < 0 ? -1 : value[static_cast<size_t>(j)]);
    } else if (spec.op == "mean") {
      // Lasagne's GlobalPoolLayer (flatten(3) + mean over axis 2) or a mean over axes (2, 3):
      // an average pool over the whole image, whose output is held as (C, 1, 1).
      const bool keepdims = spec.attrs.contains("keepdims") &&
                            spec.attrs["keepdims"].is_boolean() &&
                            spec.attrs["keepdims"].get<bool>();
      const bool after_flat3 = in[0] >= 0 && flat3[static_cast<size_t>(in[0])];
      const std::vector<int64_t> axes = ReducedAxes(spec.attrs, after_flat3 ? 3 : 4);
      const bool global =
          !keepdims && op.in_shape.size() == 3 &&
          (after_flat3 ? axes == std::vector<int64_t>{2} : axes == std::vector<int64_t>{2, 3});
      if (!global) return Unsupported(spec, "a mean other than over a whole image");
      op.kind = PeerOp::Kind::kPool;
      op.pool_mode = PeerOp::PoolMode::kAverageExcPad;
      op.kernel = {op.in_shape[1], op.in_shape[2]};
      op.stride = op.kernel;
      op.out_shape = {op.in_shape[0], 1, 1};
    } else {
      return Unsupported(spec, absl::StrCat("op ", spec.op));
    }
    value[i] = static_cast<int>(ops.size());
    tail.push_back(static_cast<int>(i));
    ops.push_back(std::move(op));
  }
  return net;
}

}  // namespace theano_serving::bench
