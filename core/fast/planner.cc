// The planner's PlanX functions (one per LoweredKind) and its value / layout bookkeeping. The
// fusion decisions they ask for are in fusion.cc.
#include "core/fast/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/fast/layout.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace fast {

Planner::Planner(const Graph<float>& graph, const std::vector<LayerSummary>& summaries,
                 const Shape& input_shape, const FastOptions& options, Plan* plan)
    : graph_(graph), options_(options), isa_(*options.isa), plan_(*plan) {
  const size_t n = graph.num_layers();
  node_value_.assign(n, -1);
  alias_.assign(n, -1);
  absorbed_.assign(n, false);
  consumers_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (int j : graph.layer_inputs(i)) {
      if (j >= 0) ++consumers_[static_cast<size_t>(j)];
    }
    shapes_.push_back(summaries[i].output_shape);
  }
  consumers_[n - 1] += 1;  // The graph output.
  Value in;
  in.shape = input_shape;
  plan_.input_value = AddValue(in);
}

absl::Status Planner::EmitSteps() {
  for (size_t i = 0; i < graph_.num_layers(); ++i) {
    if (absorbed_[i]) continue;
    RETURN_IF_ERROR(PlanNode(i));
  }
  plan_.output_value = Plain(NodeValue(static_cast<int>(graph_.num_layers()) - 1));
  plan_.output_shape = shapes_.back();
  return absl::OkStatus();
}

absl::Status Planner::PlanNode(size_t i) {
  const Lowering<float> l = LowerNode(i);
  switch (l.kind) {
    case LoweredKind::kConv:
      return PlanConv(i, l);
    case LoweredKind::kDense:
      return PlanDense(i, l);
    case LoweredKind::kPool:
      return PlanPool(i, l);
    case LoweredKind::kElementwise:
      return PlanElementwise(i, l);
    case LoweredKind::kBiasAdd:
      return PlanChannelOp(i, l.axis, l.bias->data(), false);
    case LoweredKind::kScale:
      return PlanChannelOp(i, l.axis, l.scale->data(), true);
    case LoweredKind::kParamArith:
      return PlanParamArith(i, l);
    case LoweredKind::kAdd:
      return PlanAdd(i);
    case LoweredKind::kFlatten:
      return PlanFlatten(i, l);
    case LoweredKind::kBatchNorm:
      return PlanBatchNorm(i, l);
    case LoweredKind::kLrn:
      return PlanLrn(i, l);
    case LoweredKind::kConcat:
      return PlanConcat(i, l);
    case LoweredKind::kReduce:
      return PlanReduce(i, l);
    case LoweredKind::kSoftmax:
      return PlanSoftmax(i, l);
    case LoweredKind::kReshape:
      return PlanReshape(i);
    case LoweredKind::kDimshuffle:
      return PlanDimshuffle(i, l);
    case LoweredKind::kSlice:
      return PlanSlice(i, l);
    case LoweredKind::kPad:
      return PlanPad(i, l);
    case LoweredKind::kAxisReduce:
      return PlanAxisReduce(i, l);
    case LoweredKind::kNone:
      return PlanReference(i);
  }
  return PlanReference(i);  // Not reached: every kind is handled above.
}

// ---- Values and layouts -------------------------------------------------------------------------

int Planner::AddValue(Value v) {
  plan_.values.push_back(std::move(v));
  return static_cast<int>(plan_.values.size()) - 1;
}

Value Planner::Like(int v) const {
  Value out;
  out.shape = V(v).shape;
  out.layout = V(v).layout;
  out.chw = V(v).chw;
  return out;
}

int Planner::Emit(std::string label, std::vector<int> in, StepOp op, Value out) {
  const int id = AddValue(std::move(out));
  plan_.steps.push_back(Step{std::move(label), std::move(in), id, std::move(op)});
  return id;
}

int Planner::Plain(int v) {
  if (V(v).layout == Layout::kPlain) return v;
  auto it = plain_of_.find(v);
  if (it != plain_of_.end()) return it->second;
  ToPlainStep s;
  Value out;
  out.shape = V(v).shape;
  if (V(v).layout == Layout::kNhwc) {
    s.c = out.shape[1], s.h = out.shape[2], s.w = out.shape[3];
  } else {
    s.c = V(v).chw[0], s.h = V(v).chw[1], s.w = V(v).chw[2];
  }
  if (s.h * s.w == 1 || s.c == 1) {
    // One pixel (or one channel): both orders are the same bytes.
    out.alias_of = v;
    plain_of_[v] = AddValue(out);
    return plain_of_[v];
  }
  const int id = Emit(absl::StrCat("to plain (", LayoutName(V(v).layout), " -> C order)"), {v},
                      std::move(s), out);
  plain_of_[v] = id;
  return id;
}

int Planner::Nhwc(int v) {
  if (V(v).layout == Layout::kNhwc) return v;
  auto it = nhwc_of_.find(v);
  if (it != nhwc_of_.end()) return it->second;
  const Shape shape = V(v).shape;  // A copy: adding values may move it.
  Value out = Like(v);
  out.layout = Layout::kNhwc;
  int id;
  if (shape[1] == 1 || shape[2] * shape[3] == 1) {
    // One channel (or one pixel): NCHW and NHWC are the same bytes.
    out.alias_of = v;
    id = AddValue(out);
  } else {
    ToNhwcStep s;
    s.c = shape[1], s.h = shape[2], s.w = shape[3];
    id = Emit("to NHWC", {v}, std::move(s), out);
  }
  nhwc_of_[v] = id;
  return id;
}

int Planner::NodeValue(int node) const {
  if (node < 0) return plan_.input_value;
  while (alias_[static_cast<size_t>(node)] >= 0) node = alias_[static_cast<size_t>(node)];
  return node_value_[static_cast<size_t>(node)];
}

const Shape& Planner::InputShape(int node_input) const {
  return node_input < 0 ? V(plan_.input_value).shape : shapes_[static_cast<size_t>(node_input)];
}

// ---- Convolutions -------------------------------------------------------------------------------

bool Planner::RunsPlanar(const ConvGeometry& g, bool input_planar) const {
  // (Planar tap offsets are int32: an image's shifted copies must stay under 2^31 floats.)
  if (g.stride_h != 1 || g.stride_w != 1 || g.groups != 1 ||
      ShiftForConv(g).PerImage() > std::numeric_limits<int32_t>::max()) {
    return false;
  }
  switch (options_.planar_conv) {
    case FastOptions::PlanarConv::kAlways:
      return true;
    case FastOptions::PlanarConv::kNever:
      return false;
    case FastOptions::PlanarConv::kAuto:
      break;
  }
  // An NHWC input would need a layout change and the shifted copies, which cost more than the
  // lanes the planar kernel saves (GoogLeNet's 1x1 512->24 reductions: 0.13 ms of copies each).
  return input_planar && PreferPlanar(isa_, g.out_channels, g.out_h * g.out_w);
}

bool Planner::RunsWinograd(const ConvGeometry& g) const {
  if (!WinogradApplies(g)) return false;
  switch (options_.winograd) {
    case FastOptions::Winograd::kAlways:
      return true;
    case FastOptions::Winograd::kNever:
      return false;
    case FastOptions::Winograd::kAuto:
      break;
  }
  return PreferWinograd(g);
}

absl::Status Planner::PlanConv(size_t i, const Lowering<float>& l) {
  const ConvGeometry& g = l.conv;
  size_t end = i;
  int pool_node = -1;
  std::string fused;
  const float* bias = FuseConvBias(i, g.out_channels, &end, &pool_node, &fused);
  const bool planar =
      RunsPlanar(g, V(NodeValue(graph_.layer_inputs(i)[0])).layout == Layout::kPlain);
  // A batch norm after the conv (and its bias) joins the NHWC kernels' epilogue; a planar conv
  // leaves it to a step of its own.
  std::optional<BatchNormParams<float>> norm;
  if (pool_node < 0 && !planar) norm = FuseBatchNorm(&end, i, g.out_channels, &fused);
  Activation act = Activation::kOther;
  if (pool_node < 0) {
    act = FuseActivation(end, i);
    if (act != Activation::kOther) absl::StrAppend(&fused, " + ", ActivationName(act));
  }
  if (planar) return PlanPlanarConv(i, l, bias, act, fused);

  const int residual = FuseResidual(i, end, &act, &fused);
  int64_t ph = 0, pw = 0;
  const int x = PadForConv(g, Nhwc(NodeValue(graph_.layer_inputs(i)[0])), &ph, &pw);
  ConvStep s = MakeConvStep(l, bias, norm ? &*norm : nullptr, ph, pw, act);
  std::string label =
      absl::StrCat(Label(i), ": conv ", g.kh, "x", g.kw, " ", g.in_channels, "->", g.out_channels,
                   " groups ", g.groups, " stride (", g.stride_h, ", ", g.stride_w, ") dilation (",
                   g.dil_h, ", ", g.dil_w, "), out ", g.out_h, "x", g.out_w, " NHWC, ",
                   s.winograd.empty() ? "" : "Winograd F(2x2, 3x3), ", s.weights.block,
                   "-channel blocks", fused);
  std::vector<int> in = {x};
  if (residual >= 0) in.push_back(residual);
  Value out;
  out.shape = shapes_[i];
  out.layout = Layout::kNhwc;
  node_value_[i] = Emit(std::move(label), std::move(in), std::move(s), out);
  return absl::OkStatus();
}

int Planner::PadForConv(const ConvGeometry& g, int x, int64_t* padded_h, int64_t* padded_w) {
  // Padding: copy into a zero-bordered buffer big enough for every window.
  const int64_t bottom = std::max<int64_t>(
      0, (g.out_h - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1 - g.pad_top - g.in_h);
  const int64_t right = std::max<int64_t>(
      0, (g.out_w - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1 - g.pad_left - g.in_w);
  *padded_h = g.in_h, *padded_w = g.in_w;
  if (g.pad_top == 0 && g.pad_left == 0 && bottom == 0 && right == 0) return x;
  PadStep s;
  s.c = g.in_channels, s.h = g.in_h, s.w = g.in_w;
  s.frame.top = g.pad_top, s.frame.left = g.pad_left;
  *padded_h = s.frame.padded_h = g.in_h + g.pad_top + bottom;
  *padded_w = s.frame.padded_w = g.in_w + g.pad_left + right;
  Value out;
  out.shape = {1, g.in_channels, *padded_h, *padded_w};
  out.layout = Layout::kNhwc;
  out.own_slot = true;  // Its zero border is written once, when the buffer is allocated.
  return Emit(absl::StrCat("pad (", g.pad_top, ", ", bottom, ") x (", g.pad_left, ", ", right, ")"),
              {x}, std::move(s), out);
}

ConvStep Planner::MakeConvStep(const Lowering<float>& l, const float* bias,
                               const BatchNormParams<float>* norm, int64_t padded_h,
                               int64_t padded_w, Activation act) {
  const ConvGeometry& g = l.conv;
  ConvStep s;
  // A Winograd conv reads its filters as U; its packed weights carry the bias and norm alone.
  const bool winograd = RunsWinograd(g);
  s.weights = PackConvWeights(winograd ? nullptr : l.weights->data(), g.out_channels,
                              g.in_channels / g.groups, g.kh, g.kw, g.groups, bias,
                              ChooseBlock(isa_, g.out_channels / g.groups, false), norm);
  // A kernel row's kw taps x C channels are kw * C consecutive floats of the NHWC input, in the
  // packed weights' order too: reduce over kh taps of kw * C "channels" (fewer, longer loops;
  // LeNet's 5x5 on one channel becomes 5 taps of 5 instead of 25 taps of 1).
  const bool merge_columns = g.dil_w == 1 && g.groups == 1;
  if (merge_columns) {
    s.weights.taps = g.kh;
    s.weights.in_per_group = g.kw * g.in_channels;
    for (int64_t a = 0; a < g.kh; ++a) s.tap_at.push_back({a * g.dil_h, 0});
  } else {
    for (int64_t a = 0; a < g.kh; ++a) {
      for (int64_t b = 0; b < g.kw; ++b) s.tap_at.push_back({a * g.dil_h, b * g.dil_w});
    }
  }
  ConvTask& t = s.task;
  t.in_c = g.in_channels;
  s.SetTapOffsets(padded_w);
  t.in_h = padded_h;
  t.in_w = padded_w;
  t.kh = g.kh;
  t.dil_h = g.dil_h;
  t.rows_lo = g.pad_top;
  t.rows_hi = g.pad_top + g.in_h;
  if (merge_columns) {
    t.kw_merged = g.kw;
    t.cols_lo = g.pad_left;
    t.cols_hi = g.pad_left + g.in_w;
  }
  t.out_h = g.out_h;
  t.out_w = g.out_w;
  t.stride_h = g.stride_h;
  t.stride_w = g.stride_w;
  t.activation = act;
  t.slice_bytes = options_.reduction_slice_bytes > 0 ? options_.reduction_slice_bytes
                                                     : DefaultReductionSliceBytes();
  if (winograd) {
    s.winograd =
        PackWinogradWeights(l.weights->data(), g.out_channels, g.in_channels, s.weights.block);
  }
  return s;
}

// A stride-1 conv in the planar layout (RunPlanarConv): NCHW in, shifted copies, NCHW out.
absl::Status Planner::PlanPlanarConv(size_t i, const Lowering<float>& l, const float* bias,
                                     Activation act, const std::string& fused) {
  const ConvGeometry& g = l.conv;
  const int input = graph_.layer_inputs(i)[0];
  const int x = Plain(NodeValue(input));
  const ShiftGeometry sg = ShiftForConv(g);
  const int64_t per_image = sg.PerImage();
  int sv = -1;
  // A planar pool read by this conv alone writes the shifted copies itself.
  Step* producer = plan_.steps.empty() ? nullptr : &plan_.steps.back();
  auto* pool = producer == nullptr ? nullptr : std::get_if<PlanarPoolStep>(&producer->op);
  if (input >= 0 && consumers_[static_cast<size_t>(input)] == 1 && pool != nullptr &&
      producer->out == x) {
    pool->writes_shifts = true;
    pool->shift = sg;
    absl::StrAppend(&producer->label, ", written as ", g.kw,
                    " column-shifted copies for the planar conv");
    plan_.value(x).shape = {1, per_image};
    sv = x;
  } else {
    Value shifted;
    shifted.shape = {1, per_image};
    sv = Emit(absl::StrCat("shift: ", g.kw, " column-shifted copies of ", g.in_channels, "x",
                           sg.shifted_h, "x", g.out_w, " (padding (", g.pad_top, ", ", g.pad_left,
                           ") folded in) for the planar conv"),
              {x}, ShiftStep{sg}, shifted);
  }

  PlanarConvStep s;
  s.weights = PackPlanarWeights(l.weights->data(), g.out_channels, g.in_channels, g.kh, g.kw, bias);
  for (int64_t c = 0; c < g.in_channels; ++c) {
    for (int64_t a = 0; a < g.kh; ++a) {
      for (int64_t b = 0; b < g.kw; ++b) {
        s.offsets.push_back(
            static_cast<int32_t>((c * g.kw + b) * sg.Plane() + a * g.dil_h * g.out_w));
      }
    }
  }
  s.shift = sg;
  s.pixels = g.out_h * g.out_w;
  s.activation = act;
  std::string label =
      absl::StrCat(Label(i), ": conv ", g.kh, "x", g.kw, " ", g.in_channels, "->", g.out_channels,
                   " dilation (", g.dil_h, ", ", g.dil_w, "), out ", g.out_h, "x", g.out_w,
                   " planar (pixels in lanes), tiles of ", s.weights.tile, " channels", fused);
  Value out;
  out.shape = shapes_[i];
  node_value_[i] = Emit(std::move(label), {sv}, std::move(s), out);
  return absl::OkStatus();
}

// ---- The other kinds ----------------------------------------------------------------------------

absl::Status Planner::PlanDense(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const int64_t* chw = nullptr;
  if (V(x).layout == Layout::kFlatNhwc) {
    chw = V(x).chw.data();
  } else {
    x = Plain(x);
  }
  const int64_t n_in = l.weights->dim(0), n_out = l.weights->dim(1);
  DenseStep s;
  s.weights = PackDenseWeights(l.weights->data(), n_in, n_out, l.bias->data(),
                               ChooseBlock(isa_, n_out, false), chw);
  s.weights_small = PackDenseWeights(l.weights->data(), n_in, n_out, l.bias->data(),
                                     ChooseBlock(isa_, n_out, true), chw);
  s.taps = {0};
  s.task.in_h = s.task.in_w = s.task.out_h = s.task.out_w = 1;
  s.task.in_c = n_in;
  s.task.activation = FuseActivation(i, i);
  s.task.slice_bytes = options_.reduction_slice_bytes > 0 ? options_.reduction_slice_bytes
                                                          : DefaultReductionSliceBytes();
  std::string label = absl::StrCat(
      Label(i), ": dense ", n_in, "->", n_out, ", ", s.weights.block, "/", s.weights_small.block,
      "-channel blocks (from/below ", kSmallBatch, " rows)",
      chw != nullptr ? " (rows permuted for NHWC input)" : "",
      s.task.activation == Activation::kOther ? "" : " + ", ActivationName(s.task.activation));
  Value out;
  out.shape = shapes_[i];
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  return absl::OkStatus();
}

absl::Status Planner::PlanPool(size_t i, const Lowering<float>& l) {
  // An NCHW value (a planar conv's output, the graph input, a reference layer's output) is
  // pooled as planes; anything else as NHWC.
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const bool planar = V(x).layout == Layout::kPlain && V(x).shape.size() == 4;
  if (!planar) x = Nhwc(x);
  const int64_t c = V(x).shape[1], h = V(x).shape[2], w = V(x).shape[3];
  const int64_t out_h = shapes_[i][2], out_w = shapes_[i][3];
  size_t end = i;
  auto it = pool_bias_.find(i);
  if (it != pool_bias_.end()) end = static_cast<size_t>(it->second);
  const Activation act = FuseActivation(end, i);
  std::string label = absl::StrCat(Label(i), ": pool ", l.pool.ws[0], "x", l.pool.ws[1],
                                   planar ? " planar (NCHW)" : " NHWC",
                                   act == Activation::kOther ? "" : " + ", ActivationName(act));
  Value out;
  out.shape = shapes_[i];
  out.layout = planar ? Layout::kPlain : Layout::kNhwc;
  if (planar) {
    PlanarPoolStep s;
    s.pool = PreparePlanarPool(h, w, l.pool, out_h, out_w);
    s.c = c;
    s.activation = act;
    node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  } else {
    PoolStep s;
    s.config = l.pool;
    s.c = c, s.h = h, s.w = w;
    s.out_h = out_h, s.out_w = out_w;
    s.activation = act;
    node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  }
  return absl::OkStatus();
}

absl::Status Planner::PlanChannelOp(size_t i, int64_t axis, const float* values, bool multiply) {
  const int x = NodeValue(graph_.layer_inputs(i)[0]);
  const Shape shape = V(x).shape;  // A copy: planning adds values.
  if (axis != 1 || (shape.size() != 4 && shape.size() != 2)) return PlanReference(i);
  const int in = shape.size() == 4 ? Nhwc(x) : Plain(x);
  BiasStep s;
  s.c = shape[1];
  s.pixels = shape.size() == 4 ? shape[2] * shape[3] : 1;
  s.bias = values;
  s.multiply = multiply;
  s.activation = FuseActivation(i, i);
  std::string label =
      absl::StrCat(Label(i), multiply ? ": per-channel scale" : ": per-channel bias",
                   s.activation == Activation::kOther ? "" : " + ", ActivationName(s.activation));
  node_value_[i] = Emit(std::move(label), {in}, std::move(s), Like(in));
  return absl::OkStatus();
}

// x + p or x * p with p broadcast to one item: p is laid out once, like the value (C order, or
// NHWC for an image), and added to (multiplied with) every item.
absl::Status Planner::PlanParamArith(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const bool nhwc = V(x).layout == Layout::kNhwc;
  if (!nhwc) x = Plain(x);
  const Shape shape = V(x).shape;  // A copy: planning adds values.
  const int64_t elements = NumElements(shape);
  std::vector<float> item(static_cast<size_t>(elements));
  l.broadcast_param(shape, item.data());
  if (nhwc) {
    std::vector<float> c_order = std::move(item);
    item.assign(c_order.size(), 0.0f);
    NchwToNhwc(c_order.data(), 1, shape[1], shape[2], shape[3], OutputFrame(), item.data(),
               KernelEnv{});
  }
  plan_.constants.push_back(std::move(item));
  BiasStep s;
  s.bias = plan_.constants.back().data();
  s.multiply = l.multiply;
  s.c = elements;
  s.pixels = 1;
  s.activation = FuseActivation(i, i);
  std::string label =
      absl::StrCat(Label(i), l.multiply ? ": times " : ": plus ", "parameter ",
                   ShapeToString(l.scale->shape()), " per item", nhwc ? " NHWC" : "",
                   s.activation == Activation::kOther ? "" : " + ", ActivationName(s.activation));
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), Like(x));
  return absl::OkStatus();
}

absl::Status Planner::PlanElementwise(size_t i, const Lowering<float>& l) {
  const int x = NodeValue(graph_.layer_inputs(i)[0]);
  std::string label = absl::StrCat(
      Label(i), ": ",
      l.activation != Activation::kOther ? ActivationName(l.activation)
      : l.leaky ? absl::StrCat("leaky relu fma(", l.leaky_f2, ", |x|, ", l.leaky_f1, " * x)")
                : "reference function");
  node_value_[i] =
      Emit(std::move(label), {x},
           ElementwiseStep{l.activation, l.apply, l.leaky, l.leaky_f1, l.leaky_f2}, Like(x));
  return absl::OkStatus();
}

absl::Status Planner::PlanAdd(size_t i) {
  std::vector<int> xs;
  bool all_images = true;
  bool any_nhwc = false;
  for (int j : graph_.layer_inputs(i)) {
    xs.push_back(NodeValue(j));
    all_images = all_images && V(xs.back()).shape.size() == 4;
    any_nhwc = any_nhwc || V(xs.back()).layout == Layout::kNhwc;
  }
  std::vector<int> in;
  for (int x : xs) in.push_back(all_images && any_nhwc ? Nhwc(x) : Plain(x));
  SumStep s;
  s.activation = FuseActivation(i, i);
  std::string label =
      absl::StrCat(Label(i), ": add", s.activation == Activation::kOther ? "" : " + ",
                   ActivationName(s.activation));
  const Value out = Like(in[0]);
  node_value_[i] = Emit(std::move(label), std::move(in), s, out);
  return absl::OkStatus();
}

absl::Status Planner::PlanFlatten(size_t i, const Lowering<float>& l) {
  const int x = NodeValue(graph_.layer_inputs(i)[0]);
  Value out;
  out.shape = shapes_[i];
  int src = x;
  if (V(x).layout == Layout::kNhwc && (l.flatten_ndim == 2 || l.flatten_ndim == 3)) {
    out.layout = l.flatten_ndim == 2 ? Layout::kFlatNhwc : Layout::kFlat3Nhwc;
    out.chw = {V(x).shape[1], V(x).shape[2], V(x).shape[3]};
  } else {
    src = Plain(x);
  }
  out.alias_of = src;  // A reshape: the same buffer.
  node_value_[i] = AddValue(out);
  return absl::OkStatus();
}

absl::Status Planner::PlanBatchNorm(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const Shape shape = V(x).shape;  // A copy: planning adds values.
  BatchNormStep s;
  s.norm = l.norm;
  s.c = shape[1];
  if (shape.size() == 4) {
    // An NCHW value (a planar conv's output, the graph input) is normalised as planes.
    s.channels_last = V(x).layout != Layout::kPlain;
    if (s.channels_last) x = Nhwc(x);
    s.h = shape[2], s.w = shape[3];
  } else if (shape.size() == 2) {
    x = Plain(x);
  } else {
    return PlanReference(i);
  }
  s.activation = FuseActivation(i, i);
  std::string label =
      absl::StrCat(Label(i), ": batch norm ", s.channels_last ? "NHWC" : "planar (NCHW)",
                   s.activation == Activation::kOther ? "" : " + ", ActivationName(s.activation));
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), Like(x));
  return absl::OkStatus();
}

absl::Status Planner::PlanLrn(size_t i, const Lowering<float>& l) {
  const int x = Nhwc(NodeValue(graph_.layer_inputs(i)[0]));
  LrnStep s;
  s.lrn = l.lrn;
  s.c = V(x).shape[1], s.h = V(x).shape[2], s.w = V(x).shape[3];
  std::string label = absl::StrCat(Label(i), ": LRN across ", s.lrn.n, " channels NHWC");
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), Like(x));
  return absl::OkStatus();
}

// Images along their channels: NHWC copies into channel slices, which FoldConcats (passes.h)
// turns into the producers writing there. Any other concatenation: C-order row copies.
absl::Status Planner::PlanConcat(size_t i, const Lowering<float>& l) {
  const Shape& out_shape = shapes_[i];
  const size_t axis = static_cast<size_t>(l.axis);
  ConcatStep s;
  s.nhwc = out_shape.size() == 4 && axis == 1;
  s.total = out_shape[axis];
  std::vector<int> in;
  int64_t offset = 0;
  for (int j : graph_.layer_inputs(i)) {
    const int x = NodeValue(j);
    in.push_back(s.nhwc ? Nhwc(x) : Plain(x));
    s.channels.push_back(InputShape(j)[axis]);
    s.offsets.push_back(offset);
    offset += s.channels.back();
  }
  Value out;
  out.shape = out_shape;
  if (s.nhwc) {
    s.h = out_shape[2], s.w = out_shape[3];
    out.layout = Layout::kNhwc;
  } else {
    // h rows per item (the axes before `axis`), each `total` blocks of w floats (the axes after).
    s.h = 1, s.w = 1;
    for (size_t d = 1; d < axis; ++d) s.h *= out_shape[d];
    for (size_t d = axis + 1; d < out_shape.size(); ++d) s.w *= out_shape[d];
  }
  std::string label = absl::StrCat(Label(i), ": concatenate ", in.size(), " inputs along axis ",
                                   axis, s.nhwc ? " (NHWC channels)" : " (C order)");
  node_value_[i] = Emit(std::move(label), std::move(in), std::move(s), out);
  return absl::OkStatus();
}

absl::Status Planner::PlanReduce(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const Layout layout = V(x).layout;
  ReduceStep s;
  s.reduce = l.reduce;
  s.channels_last = layout == Layout::kNhwc || layout == Layout::kFlat3Nhwc;
  if (!s.channels_last) x = Plain(x);
  const Shape& shape = V(x).shape;
  s.c = shape[1];
  s.pixels = NumElements(shape) / s.c;
  std::string label = absl::StrCat(Label(i), ": global pool over ", s.pixels, " pixels ",
                                   s.channels_last ? "(channels last)" : "(planes)");
  Value out;
  out.shape = shapes_[i];
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  return absl::OkStatus();
}

absl::Status Planner::PlanSoftmax(size_t i, const Lowering<float>& l) {
  const int x = Plain(NodeValue(graph_.layer_inputs(i)[0]));
  SoftmaxStep s;
  s.log = l.log_softmax;
  s.cols = V(x).shape[1];
  std::string label = absl::StrCat(Label(i), s.log ? ": log_softmax" : ": softmax");
  node_value_[i] = Emit(std::move(label), {x}, s, Like(x));
  return absl::OkStatus();
}

// ---- Views, slices, pads and reductions along one axis
// -------------------------------------------

namespace {

// An item's elements (batch 1) of a plain or NHWC value of `shape`, seen as (outer, n, inner) in
// memory order around logical axis `axis` (>= 1).
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView ViewAround(const Shape& shape, Layout layout, int64_t axis) {
  std::vector<size_t> memory_order;  // The logical axes after the batch, outermost first.
  if (layout == Layout::kNhwc) {
    memory_order = {2, 3, 1};
  } else {
    for (size_t d = 1; d < shape.size(); ++d) memory_order.push_back(d);
  }
  AxisView v;
  bool after = false;
  for (size_t d : memory_order) {
    if (static_cast<int64_t>(d) == axis) {
      v.n = shape[d];
      after = true;
    } else {
      (after ? v.inner : v.outer) *= shape[d];
    }
  }
  return v;
}

const char* ReduceName(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum:
      return "sum";
    case ReduceKind::kMean:
      return "mean";
    case ReduceKind::kMax:
      return "max";
    case ReduceKind::kMin:
      return "min";
  }
  return "?";
}

}  // namespace

// A reshape is a view of the plain value. Maxout (FeaturePoolLayer: a reshape of (N, C, ...) to
// (N, C / p, p, ...) read only by a reduction over axis 2) ends the epilogue of the conv or dense
// layer that computes its input where it can (FuseFeaturePool); else, of an NHWC image, it is one
// step over the NHWC channels, which are its groups of p consecutive floats.
absl::Status Planner::PlanReshape(size_t i) {
  const int x = NodeValue(graph_.layer_inputs(i)[0]);
  const Shape in = V(x).shape;  // A copy: planning adds values.
  const Shape& out_shape = shapes_[i];
  const int j = SingleConsumer(i);
  const bool feature_pool = j >= 0 && in.size() >= 2 && out_shape.size() == in.size() + 1 &&
                            out_shape[1] * out_shape[2] == in[1] &&
                            std::equal(in.begin() + 2, in.end(), out_shape.begin() + 3) &&
                            shapes_[static_cast<size_t>(j)].size() == in.size();
  const Lowering<float> r = feature_pool ? LowerNode(static_cast<size_t>(j)) : Lowering<float>();
  // (Of a 2-D value, the reduction over axis 2 of (N, C / p, p) lowers as the one over every axis
  // after axis 1.)
  if (feature_pool && ((r.kind == LoweredKind::kAxisReduce && r.axis == 2) ||
                       (r.kind == LoweredKind::kReduce && in.size() == 2))) {
    if (Step* producer = FuseFeaturePool(i, x, out_shape[2], r.reduce)) {
      absl::StrAppend(&producer->label, " + ", Label(i), " + ", Label(static_cast<size_t>(j)), ": ",
                      ReduceName(r.reduce.kind), " over groups of ", out_shape[2],
                      " channels (maxout)");
      plan_.value(x).shape = shapes_[static_cast<size_t>(j)];
      node_value_[i] = x;
      Absorb(static_cast<size_t>(j), i);
      return absl::OkStatus();
    }
    if (V(x).layout == Layout::kNhwc && in.size() == 4 && r.kind == LoweredKind::kAxisReduce) {
      AxisReduceStep s;
      s.reduce = r.reduce;
      s.outer = in[2] * in[3] * out_shape[1];
      s.n = out_shape[2];
      Absorb(static_cast<size_t>(j), i);
      Value out;
      out.shape = shapes_[static_cast<size_t>(j)];
      out.layout = Layout::kNhwc;
      node_value_[i] = Emit(absl::StrCat(Label(i), " + ", Label(static_cast<size_t>(j)), ": ",
                                         ReduceName(r.reduce.kind), " over groups of ", s.n,
                                         " channels (maxout) NHWC"),
                            {x}, std::move(s), out);
      return absl::OkStatus();
    }
  }
  Value out;
  out.shape = out_shape;
  out.alias_of = Plain(x);
  node_value_[i] = AddValue(out);
  return absl::OkStatus();
}

// The two permutations between the layouts are views: (N, H, W, C) in C order is the NHWC layout
// of (N, C, H, W) (Keras' channels-last input), and back. Any other permutation: the reference's.
absl::Status Planner::PlanDimshuffle(size_t i, const Lowering<float>& l) {
  const int x = NodeValue(graph_.layer_inputs(i)[0]);
  const std::vector<int64_t> to_channels_first = {0, 3, 1, 2}, to_channels_last = {0, 2, 3, 1};
  Value out;
  out.shape = shapes_[i];
  out.alias_of = x;
  if (V(x).shape.size() == 4 && V(x).layout == Layout::kPlain && l.pattern == to_channels_first) {
    out.layout = Layout::kNhwc;
  } else if (V(x).layout == Layout::kNhwc && l.pattern == to_channels_last) {
    out.layout = Layout::kPlain;
  } else {
    return PlanReference(i);
  }
  node_value_[i] = AddValue(out);
  return absl::OkStatus();
}

// A slice of a whole axis is a view; any other is a copy of the rows it keeps, in the value's
// layout (an NHWC image stays NHWC; with an index, which drops the axis, plain).
absl::Status Planner::PlanSlice(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const SliceParams& sp = l.slice;
  const bool nhwc = V(x).layout == Layout::kNhwc && !sp.drop_axis;
  if (!nhwc) x = Plain(x);
  const AxisView v = ViewAround(V(x).shape, V(x).layout, sp.axis);
  Value out;
  out.shape = shapes_[i];
  out.layout = nhwc ? Layout::kNhwc : Layout::kPlain;
  if (sp.start == 0 && sp.step == 1 && sp.length == v.n) {
    out.alias_of = x;
    node_value_[i] = AddValue(out);
    return absl::OkStatus();
  }
  SliceStep s;
  s.outer = v.outer, s.n = v.n, s.inner = v.inner;
  s.start = sp.start, s.step = sp.step, s.length = sp.length;
  std::string label =
      absl::StrCat(Label(i), ": slice ", sp.length, " of ", v.n, " along axis ", sp.axis, " from ",
                   sp.start, " step ", sp.step, nhwc ? " NHWC" : " (C order)");
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  return absl::OkStatus();
}

// Zero padding of an image's rows and columns: the NHWC copy into a zero-bordered buffer that a
// conv's own padding uses (FoldPads makes the producer write into it). Other pads: the
// reference's.
absl::Status Planner::PlanPad(size_t i, const Lowering<float>& l) {
  const int x0 = NodeValue(graph_.layer_inputs(i)[0]);
  const Shape in = V(x0).shape;  // A copy: planning adds values.
  // (+0 only: the buffer's border is zero-filled bytes.)
  if (in.size() != 4 || l.pad_width.size() > 2 || l.pad_value != 0.0f ||
      std::signbit(l.pad_value)) {
    return PlanReference(i);
  }
  std::array<int64_t, 2> rows = {0, 0}, cols = {0, 0};
  if (l.pad_width.size() == 2) rows = l.pad_width[0];
  if (!l.pad_width.empty()) cols = l.pad_width.back();
  PadStep s;
  s.c = in[1], s.h = in[2], s.w = in[3];
  s.frame.top = rows[0], s.frame.left = cols[0];
  s.frame.padded_h = in[2] + rows[0] + rows[1];
  s.frame.padded_w = in[3] + cols[0] + cols[1];
  Value out;
  out.shape = shapes_[i];
  out.layout = Layout::kNhwc;
  out.own_slot = true;  // Its zero border is written once, when the buffer is allocated.
  node_value_[i] = Emit(absl::StrCat(Label(i), ": pad (", rows[0], ", ", rows[1], ") x (", cols[0],
                                     ", ", cols[1], ") NHWC"),
                        {Nhwc(x0)}, std::move(s), out);
  return absl::OkStatus();
}

// A reduction over one axis, in C order; over the channels of an NHWC image, in place: each
// pixel's channels are consecutive (the output, (N, H, W), is in C order either way).
absl::Status Planner::PlanAxisReduce(size_t i, const Lowering<float>& l) {
  int x = NodeValue(graph_.layer_inputs(i)[0]);
  const bool channels = V(x).layout == Layout::kNhwc && l.axis == 1;
  if (!channels) x = Plain(x);
  const AxisView v = ViewAround(V(x).shape, V(x).layout, l.axis);
  AxisReduceStep s;
  s.reduce = l.reduce;
  s.outer = v.outer, s.n = v.n, s.inner = v.inner;
  std::string label = absl::StrCat(Label(i), ": ", ReduceName(l.reduce.kind), " over axis ", l.axis,
                                   " (", v.n, " values)", channels ? " NHWC" : " (C order)");
  Value out;
  out.shape = shapes_[i];
  node_value_[i] = Emit(std::move(label), {x}, std::move(s), out);
  return absl::OkStatus();
}

absl::Status Planner::PlanReference(size_t i) {
  ReferenceStep s;
  s.layer = &graph_.layer(i);
  std::vector<int> in;
  for (int j : graph_.layer_inputs(i)) {
    in.push_back(Plain(NodeValue(j)));
    s.in_shapes.push_back(InputShape(j));
  }
  s.out_shape = shapes_[i];
  Value out;
  out.shape = shapes_[i];
  node_value_[i] =
      Emit(absl::StrCat(Label(i), ": reference kernel"), std::move(in), std::move(s), out);
  return absl::OkStatus();
}

}  // namespace fast
}  // namespace theano_serving
