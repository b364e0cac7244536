#include "core/fast/fast_graph.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/fast/kernels.h"
#include "core/status_macros.h"

namespace theano_serving {
namespace {

using fast::ConvTask;
using fast::PackedWeights;

// How a planned value's elements are laid out in its buffer.
enum class Layout {
  kPlain,     // C order of the logical shape (NCHW for images): what the reference layers use.
  kNhwc,      // A 4-D (N, C, H, W) value stored (N, H, W, C).
  kFlatNhwc,  // flatten(ndim=2) of a kNhwc image: (N, C*H*W) stored in (H, W, C) order.
};

const char* LayoutName(Layout l) {
  switch (l) {
    case Layout::kPlain:
      return "plain";
    case Layout::kNhwc:
      return "NHWC";
    case Layout::kFlatNhwc:
      return "flat-NHWC";
  }
  return "?";
}

const char* ActivationName(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kOther:
      break;
  }
  return "";
}

// Bytes-free description of a value: its logical shape for one item (dim 0 = 1) and layout.
struct Value {
  Shape shape;  // Logical shape with batch 1.
  Layout layout = Layout::kPlain;
  int slot = -1;  // Workspace buffer; -1 = the graph input.
  // Written and read only inside an image block: lives in the per-thread group scratch at this
  // offset (block_images * Elements() floats), not in a slot.
  int64_t group_offset = -1;
  std::array<int64_t, 3> chw = {0, 0, 0};  // kFlatNhwc: the flattened image's (C, H, W).
  int64_t Elements() const { return NumElements(shape); }
};

enum class StepKind {
  kToNhwc,
  kToPlain,
  kPad,
  kConv,
  kShift,
  kPlanarConv,
  kPool,
  kBias,
  kElementwise,
  kAdd,
  kReference,
};

struct Step {
  StepKind kind;
  std::string label;
  std::vector<int> in;  // Value ids.
  int out = -1;
  // kToNhwc / kToPlain / kPad / kPool / kBias: the (C, H, W) of the input image (kBias: channels
  // and pixels per item).
  int64_t c = 0, h = 0, w = 0;
  // kPad: the padded buffer; kToNhwc / kPool (NHWC): where the output goes (FoldPads).
  fast::OutputFrame frame;
  // kConv (dense: 1x1 image, `weights_small` for batches below kSmallBatch).
  PackedWeights weights;
  PackedWeights weights_small;
  // Each tap's (input row, input column) offset from a pixel's window corner, and the float
  // offsets made of them for the input buffer's row width (SetTapOffsets; dense: {0}).
  std::vector<std::array<int64_t, 2>> tap_at;
  std::vector<int64_t> taps;
  ConvTask task;  // Pointers and batch filled per run.
  // kShift / kPlanarConv
  fast::ShiftGeometry shift;
  fast::PlanarWeights planar;
  std::vector<int32_t> offsets;
  int64_t pixels = 0;  // kPlanarConv: output pixels per image.
  // kPool (`planar`: an NCHW input, else NHWC)
  PoolConfig pool;
  bool pool_planar = false;
  fast::PlanarPool planar_pool;
  bool pool_shifts = false;  // Writes `shift` copies for the planar conv reading it.
  int64_t out_h = 0, out_w = 0;
  // Fused or standalone element-wise function.
  Activation activation = Activation::kOther;
  std::function<void(const float*, float*, int64_t)> apply;
  // kBias
  const float* bias = nullptr;
  // kReference
  const Layer<float>* layer = nullptr;
  std::vector<Shape> in_shapes;  // Batch 1.
  Shape out_shape;
};

// The float offsets of a conv step's taps in an NHWC input buffer of `row_width` pixels per row.
void SetTapOffsets(Step* s, int64_t row_width) {
  s->taps.clear();
  for (const auto& [row, col] : s->tap_at)
    s->taps.push_back((row * row_width + col) * s->task.in_c);
}

// memcpy of n floats; n may be 0 (an empty tensor's data() may be null).
void CopyFloats(float* dst, const float* src, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// The bytes an image block's group of images may write, so that they stay in the L2 cache
// between the block's steps (LeNet's planar steps write 114 KB per image: groups of 4).
std::atomic<int64_t> image_block_bytes{512 << 10};
constexpr int64_t kImageBlockMaxWeightBytes = 256 << 10;
// The most one image's values in a block may take: they stay in the L3 cache (32 MB here) while
// the group runs. 4 MiB admits ResNet-18's stem (conv 7x7/2 + pool 3x3/2, 4.0 MB per image): at
// batch 8 the pool then reads the conv's output from L3 instead of memory (4.8 -> 1.0 ms). A longer
// run of blockable steps is cut into several blocks.
constexpr int64_t kImageBlockMaxBytes = 4 << 20;
std::atomic<int64_t> image_block_max_bytes{kImageBlockMaxBytes};

// Dense layers with fewer rows than this use 32-channel blocks (3 rows x 32 channels per tile):
// one row x 16 channels has too few independent accumulators to hide the FMA latency.
constexpr int64_t kSmallBatch = 6;

}  // namespace

struct FastGraph::Plan {
  std::vector<Value> values;
  std::vector<Step> steps;
  std::vector<int64_t> slot_elements;  // Per item.
  // Image blocks: steps [i, block_end[i]) run together per group of block_images[i] images
  // (block_end[i] == i + 1: step i runs alone, on the whole batch).
  std::vector<size_t> block_end;
  std::vector<int64_t> block_images;
  int64_t group_scratch_floats = 0;  // Per thread.
  int input_value = -1;
  int output_value = -1;
  Shape output_shape;  // Batch 1.

  struct Workspace {
    int64_t capacity = 0;  // Items.
    std::vector<fast::AlignedArray> slots;
    std::vector<fast::AlignedArray> group_scratch;  // One per thread.
    // kReference steps: input and output tensors, reused.
    struct ReferenceIo {
      std::vector<Tensor<float>> ins;
      std::vector<const Tensor<float>*> in_ptrs;
      Tensor<float> out;
      Shape shape;  // Scratch for the batch's shapes.
    };
    std::map<size_t, ReferenceIo> reference;
  };
  mutable std::mutex mu;
  mutable std::vector<std::unique_ptr<Workspace>> free_workspaces;
};

namespace {

class Planner {
 public:
  Planner(const Graph<float>& graph, const std::vector<LayerSummary>& summaries,
          const Shape& input_shape, FastGraph::Plan* plan)
      : graph_(graph), plan_(*plan) {
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

  absl::Status Build() {
    for (size_t i = 0; i < graph_.num_layers(); ++i) {
      if (absorbed_[i]) continue;
      RETURN_IF_ERROR(PlanNode(i));
    }
    plan_.output_value = Plain(NodeValue(static_cast<int>(graph_.num_layers()) - 1));
    plan_.output_shape = shapes_.back();
    FoldPads();
    // Image blocks: runs of consecutive planar steps (shift, conv, pool). Each value they write
    // gets a buffer of its own, so that running the run group by group cannot overwrite a value
    // another group still needs.
    const size_t num_steps = plan_.steps.size();
    std::vector<bool> blockable(num_steps);
    for (size_t k = 0; k < num_steps; ++k) {
      const Step& st = plan_.steps[k];
      switch (st.kind) {
        case StepKind::kShift:
        case StepKind::kPlanarConv:
        case StepKind::kPool:
        case StepKind::kPad:
        case StepKind::kToNhwc:
        case StepKind::kBias:
        case StepKind::kElementwise:
        case StepKind::kAdd:
          blockable[k] = true;
          break;
        case StepKind::kConv:
          // Image convolutions whose weights stay in L2 while every group reads them (dense
          // layers run on the whole batch: their weights are the large operand).
          blockable[k] = st.weights_small.data == nullptr &&
                         st.weights.groups * st.weights.num_blocks * st.weights.taps *
                                 st.weights.in_per_group * st.weights.block *
                                 static_cast<int64_t>(sizeof(float)) <=
                             kImageBlockMaxWeightBytes;
          break;
        default:
          blockable[k] = false;
      }
    }
    plan_.block_end.resize(num_steps);
    plan_.block_images.assign(num_steps, 0);
    for (size_t k = 0; k < num_steps;) {
      // The longest run of blockable steps from k whose values fit image_block_max_bytes
      // per image (a longer run is split greedily into several blocks).
      size_t end = k + 1;
      int64_t per_image = V(plan_.steps[k].out).Elements();
      if (blockable[k]) {
        while (end < num_steps && blockable[end] &&
               (per_image + V(plan_.steps[end].out).Elements()) *
                       static_cast<int64_t>(sizeof(float)) <=
                   image_block_max_bytes.load()) {
          per_image += V(plan_.steps[end].out).Elements();
          ++end;
        }
      }
      // A block pays when a convolution's output stays in cache for the next step: it needs a
      // convolution that is not its last step. (Otherwise the block starts at a later step.)
      bool has_conv = false;
      for (size_t j = k; j + 1 < end; ++j) {
        has_conv = has_conv || plan_.steps[j].kind == StepKind::kConv ||
                   plan_.steps[j].kind == StepKind::kPlanarConv;
      }
      if (!has_conv) {
        plan_.block_end[k] = k + 1;
        ++k;
        continue;
      }
      plan_.block_end[k] = end;
      if (end > k + 1) {
        const int64_t images = std::max<int64_t>(
            1, image_block_bytes.load() / (per_image * static_cast<int64_t>(sizeof(float))));
        plan_.block_images[k] = images;
        // Values read after the block (or the graph's output) get buffers of their own; the
        // others live in the group scratch.
        std::vector<bool> read_outside(plan_.values.size(), false);
        read_outside[static_cast<size_t>(Root(plan_.output_value))] = true;
        for (size_t j = 0; j < num_steps; ++j) {
          if (j >= k && j < end) continue;
          for (int v : plan_.steps[j].in) read_outside[static_cast<size_t>(Root(v))] = true;
        }
        // Offsets are never shared, not even across blocks: a padded value's zero border is
        // written once, when the scratch is allocated.
        int64_t& offset = plan_.group_scratch_floats;
        for (size_t j = k; j < end; ++j) {
          const int v = plan_.steps[j].out;
          if (read_outside[static_cast<size_t>(v)]) {
            dedicated_.push_back(v);
          } else {
            plan_.values[static_cast<size_t>(v)].group_offset = offset;
            offset += images * V(v).Elements();
          }
        }
      }
      for (size_t j = k + 1; j < end; ++j) plan_.block_end[j] = j + 1;
      k = end;
    }
    AssignSlots();
    return absl::OkStatus();
  }

 private:
  int AddValue(Value v) {
    plan_.values.push_back(std::move(v));
    return static_cast<int>(plan_.values.size()) - 1;
  }
  const Value& V(int id) const { return plan_.values[static_cast<size_t>(id)]; }

  int NodeValue(int node) const {
    if (node < 0) return plan_.input_value;
    while (alias_[static_cast<size_t>(node)] >= 0) node = alias_[static_cast<size_t>(node)];
    return node_value_[static_cast<size_t>(node)];
  }
  const Shape& InputShape(int node_input) const {
    return node_input < 0 ? V(plan_.input_value).shape : shapes_[static_cast<size_t>(node_input)];
  }

  // The only layer reading node i's output, or -1 (none, several, or i is the graph output).
  int SingleConsumer(size_t i) const {
    if (consumers_[i] != 1 || i + 1 == graph_.num_layers()) return -1;
    for (size_t k = i + 1; k < graph_.num_layers(); ++k) {
      for (int j : graph_.layer_inputs(k)) {
        if (j == static_cast<int>(i)) return static_cast<int>(k);
      }
    }
    return -1;
  }
  Lowering<float> LowerNode(size_t i) const {
    std::vector<Shape> in;
    for (int j : graph_.layer_inputs(i)) in.push_back(InputShape(j));
    return graph_.layer(i).Lower(in);
  }
  // If node i's only consumer is a fusable activation, absorbs it into node `into` and returns it.
  Activation FuseActivation(size_t i, size_t into) {
    const int a = SingleConsumer(i);
    if (a < 0) return Activation::kOther;
    const Lowering<float> l = LowerNode(static_cast<size_t>(a));
    if (l.kind != LoweredKind::kElementwise || l.activation == Activation::kOther) {
      return Activation::kOther;
    }
    Absorb(static_cast<size_t>(a), into);
    return l.activation;
  }
  // If node i's only consumer adds a per-channel bias of `channels` along axis 1, returns it.
  int BiasConsumer(size_t i, int64_t channels) const {
    const int j = SingleConsumer(i);
    if (j < 0) return -1;
    const Lowering<float> l = LowerNode(static_cast<size_t>(j));
    if (l.kind != LoweredKind::kBiasAdd || l.axis != 1 || l.bias->size() != channels) return -1;
    return j;
  }
  // A pad whose input is written by an NHWC conv, NHWC pool or layout conversion: that step writes
  // straight into the pad's zero-bordered buffer (its frame), and the pad step goes. The value may
  // have other readers if each is an NHWC conv reading it unpadded or as its residual: they read
  // it inside the frame (ResNet's block outputs feed the next block's padded conv, its residual
  // sum and its projection).
  void FoldPads() {
    // Per value: its readers (step, input position), or the graph output.
    std::vector<std::vector<std::pair<size_t, size_t>>> readers(plan_.values.size());
    std::vector<int> producer(plan_.values.size(), -1);
    std::vector<bool> shared(plan_.values.size(), false);  // Read through an alias or output.
    shared[static_cast<size_t>(Root(plan_.output_value))] = true;
    for (size_t k = 0; k < plan_.steps.size(); ++k) {
      const Step& st = plan_.steps[k];
      for (size_t pos = 0; pos < st.in.size(); ++pos) {
        const int v = st.in[pos];
        readers[static_cast<size_t>(Root(v))].push_back({k, pos});
        if (Root(v) != v) shared[static_cast<size_t>(Root(v))] = true;
      }
      producer[static_cast<size_t>(st.out)] = static_cast<int>(k);
    }
    // Whether reader (k, pos) of an unpadded NHWC image can read it inside a frame.
    auto reads_framed = [&](size_t k, size_t pos, int v) {
      const Step& st = plan_.steps[k];
      if (st.kind != StepKind::kConv || st.task.out_frame.padded_h != 0) return false;
      if (pos == 1) return st.task.res_frame.padded_h == 0;
      const Shape& shape = V(v).shape;
      return pos == 0 && st.task.in_top == 0 && st.task.in_left == 0 && st.task.in_h == shape[2] &&
             st.task.in_w == shape[3];
    };
    std::vector<bool> folded(plan_.steps.size(), false);
    for (size_t k = 0; k < plan_.steps.size(); ++k) {
      const Step& pad = plan_.steps[k];
      const int v = pad.kind == StepKind::kPad ? pad.in[0] : -1;
      if (v < 0 || Root(v) != v || shared[static_cast<size_t>(v)] ||
          producer[static_cast<size_t>(v)] < 0) {
        continue;
      }
      bool others_ok = true;
      for (const auto& [r, pos] : readers[static_cast<size_t>(v)]) {
        if (r != k && !reads_framed(r, pos, v)) others_ok = false;
      }
      if (!others_ok) continue;
      Step& q = plan_.steps[static_cast<size_t>(producer[static_cast<size_t>(v)])];
      if (q.kind == StepKind::kConv) {
        q.task.out_frame = pad.frame;
      } else if (q.kind == StepKind::kToNhwc || (q.kind == StepKind::kPool && !q.pool_planar)) {
        q.frame = pad.frame;
      } else {
        continue;
      }
      for (const auto& [r, pos] : readers[static_cast<size_t>(v)]) {
        if (r == k) continue;
        Step& st = plan_.steps[r];
        st.in[pos] = pad.out;
        if (pos == 1) {
          st.task.res_frame = pad.frame;
          absl::StrAppend(&st.label, ", residual read from the ", pad.label);
        } else {
          SetTapOffsets(&st, pad.frame.padded_w);
          st.task.in_h = pad.frame.padded_h;
          st.task.in_w = pad.frame.padded_w;
          st.task.in_top = pad.frame.top;
          st.task.in_left = pad.frame.left;
          absl::StrAppend(&st.label, ", input read from the ", pad.label);
        }
      }
      q.out = pad.out;
      absl::StrAppend(&q.label, ", into the ", pad.label);
      folded[k] = true;
    }
    std::vector<Step> kept;
    for (size_t k = 0; k < plan_.steps.size(); ++k) {
      if (!folded[k]) kept.push_back(std::move(plan_.steps[k]));
    }
    plan_.steps = std::move(kept);
  }

  // If node `end` (conv i, or the bias_add absorbed into it) feeds only a sum of two images of
  // the same shape whose other term is computed already, absorbs the sum (and an activation after
  // it) into conv i and returns the other term's NHWC value: the conv's epilogue adds it after the
  // bias (exact: a two-term sum is the same either way round). -1 if not.
  int FuseResidual(size_t i, size_t end, Activation* act, std::string* fused) {
    if (*act != Activation::kOther) return -1;
    const int a = SingleConsumer(end);
    if (a < 0) return -1;
    const std::vector<int>& ins = graph_.layer_inputs(static_cast<size_t>(a));
    if (LowerNode(static_cast<size_t>(a)).kind != LoweredKind::kAdd || ins.size() != 2) return -1;
    const int other = ins[0] == static_cast<int>(end) ? ins[1] : ins[0];
    if (other == static_cast<int>(end) || InputShape(other) != shapes_[end] ||
        shapes_[static_cast<size_t>(a)] != shapes_[end]) {
      return -1;
    }
    const int x = NodeValue(other);
    if (x < 0) return -1;  // Computed after the conv.
    Absorb(static_cast<size_t>(a), i);
    absl::StrAppend(fused, " + residual (",
                    other < 0 ? "the input" : Label(static_cast<size_t>(other)), ")");
    *act = FuseActivation(static_cast<size_t>(a), i);
    if (*act != Activation::kOther) absl::StrAppend(fused, " + ", ActivationName(*act));
    return Nhwc(x);
  }
  void Absorb(size_t node, size_t into) {
    absorbed_[node] = true;
    alias_[node] = static_cast<int>(into);
  }
  std::string Label(size_t node) const { return graph_.layer(node).spec().Describe(); }

  int AddStep(Step step, Value out) {
    const int id = AddValue(std::move(out));
    step.out = id;
    plan_.steps.push_back(std::move(step));
    return id;
  }

  // Layout conversions (cached per value).
  int Plain(int v) {
    if (V(v).layout == Layout::kPlain) return v;
    auto it = plain_of_.find(v);
    if (it != plain_of_.end()) return it->second;
    Step s;
    s.kind = StepKind::kToPlain;
    s.in = {v};
    Value out;
    out.shape = V(v).shape;
    if (V(v).layout == Layout::kNhwc) {
      s.c = out.shape[1], s.h = out.shape[2], s.w = out.shape[3];
    } else {
      s.c = V(v).chw[0], s.h = V(v).chw[1], s.w = V(v).chw[2];
    }
    s.label = absl::StrCat("to plain (", LayoutName(V(v).layout), " -> C order)");
    const int id = AddStep(std::move(s), out);
    plain_of_[v] = id;
    return id;
  }
  int Nhwc(int v) {
    if (V(v).layout == Layout::kNhwc) return v;
    auto it = nhwc_of_.find(v);
    if (it != nhwc_of_.end()) return it->second;
    const Shape& shape = V(v).shape;
    int id;
    if (shape[1] == 1) {
      // One channel: NCHW and NHWC are the same bytes.
      Value out = V(v);
      out.layout = Layout::kNhwc;
      id = AddValue(out);
      alias_value_[id] = v;
    } else {
      Step s;
      s.kind = StepKind::kToNhwc;
      s.in = {v};
      s.c = shape[1], s.h = shape[2], s.w = shape[3];
      s.label = "to NHWC";
      Value out = V(v);
      out.layout = Layout::kNhwc;
      id = AddStep(std::move(s), out);
    }
    nhwc_of_[v] = id;
    return id;
  }

  absl::Status PlanNode(size_t i) {
    const Lowering<float> l = LowerNode(i);
    const std::vector<int>& inputs = graph_.layer_inputs(i);
    switch (l.kind) {
      case LoweredKind::kConv:
        return PlanConv(i, l);
      case LoweredKind::kDense:
        return PlanDense(i, l);
      case LoweredKind::kPool:
        return PlanPool(i, l);
      case LoweredKind::kElementwise: {
        const int x = NodeValue(inputs[0]);
        Step s;
        s.kind = StepKind::kElementwise;
        s.in = {x};
        s.activation = l.activation;
        s.apply = l.apply;
        s.label = absl::StrCat(Label(i), ": ",
                               l.activation == Activation::kOther ? "reference function"
                                                                  : ActivationName(l.activation));
        Value out = V(x);
        node_value_[i] = AddStep(std::move(s), out);
        return absl::OkStatus();
      }
      case LoweredKind::kBiasAdd: {
        const int x = NodeValue(inputs[0]);
        const Shape shape = V(x).shape;  // A copy: planning adds values.
        if (l.axis == 1 && (shape.size() == 4 || shape.size() == 2)) {
          Step s;
          s.kind = StepKind::kBias;
          const int in = shape.size() == 4 ? Nhwc(x) : Plain(x);
          s.in = {in};
          s.c = shape[1];
          s.h = shape.size() == 4 ? shape[2] * shape[3] : 1;
          s.bias = l.bias->data();
          s.activation = FuseActivation(i, i);
          s.label = absl::StrCat(Label(i), ": per-channel bias",
                                 s.activation == Activation::kOther ? "" : " + ",
                                 ActivationName(s.activation));
          node_value_[i] = AddStep(std::move(s), V(in));
          return absl::OkStatus();
        }
        return PlanReference(i);
      }
      case LoweredKind::kAdd: {
        std::vector<int> xs;
        bool all_images = true;
        bool any_nhwc = false;
        for (int j : inputs) {
          xs.push_back(NodeValue(j));
          all_images = all_images && V(xs.back()).shape.size() == 4;
          any_nhwc = any_nhwc || V(xs.back()).layout == Layout::kNhwc;
        }
        Step s;
        s.kind = StepKind::kAdd;
        for (int x : xs) s.in.push_back(all_images && any_nhwc ? Nhwc(x) : Plain(x));
        s.activation = FuseActivation(i, i);
        s.label = absl::StrCat(Label(i), ": add", s.activation == Activation::kOther ? "" : " + ",
                               ActivationName(s.activation));
        Value out = V(s.in[0]);
        node_value_[i] = AddStep(std::move(s), out);
        return absl::OkStatus();
      }
      case LoweredKind::kFlatten: {
        const int x = NodeValue(inputs[0]);
        Value out;
        out.shape = shapes_[i];
        int src = x;
        if (V(x).layout == Layout::kNhwc && l.flatten_ndim == 2) {
          out.layout = Layout::kFlatNhwc;
          out.chw = {V(x).shape[1], V(x).shape[2], V(x).shape[3]};
        } else {
          src = Plain(x);
        }
        const int id = AddValue(out);
        alias_value_[id] = src;  // A reshape: the same buffer.
        node_value_[i] = id;
        return absl::OkStatus();
      }
      case LoweredKind::kNone:
        return PlanReference(i);
    }
    return PlanReference(i);
  }

  absl::Status PlanReference(size_t i) {
    Step s;
    s.kind = StepKind::kReference;
    s.layer = &graph_.layer(i);
    for (int j : graph_.layer_inputs(i)) {
      s.in.push_back(Plain(NodeValue(j)));
      s.in_shapes.push_back(InputShape(j));
    }
    s.out_shape = shapes_[i];
    s.label = absl::StrCat(Label(i), ": reference kernel");
    Value out;
    out.shape = shapes_[i];
    node_value_[i] = AddStep(std::move(s), out);
    return absl::OkStatus();
  }

  absl::Status PlanConv(size_t i, const Lowering<float>& l) {
    const ConvGeometry& g = l.conv;
    // Bias: from a bias_add right after the conv, or after a max pool that follows it
    // (max(a_k) + b == max(a_k + b) exactly: rounding is monotonic).
    const float* bias = nullptr;
    size_t end = i;
    int pool_node = -1;
    std::string fused;
    if (int j = BiasConsumer(i, g.out_channels); j >= 0) {
      bias = LowerNode(static_cast<size_t>(j)).bias->data();
      Absorb(static_cast<size_t>(j), i);
      end = static_cast<size_t>(j);
      fused = " + bias";
    } else if (int p = SingleConsumer(i); p >= 0) {
      const Lowering<float> pl = LowerNode(static_cast<size_t>(p));
      if (pl.kind == LoweredKind::kPool && pl.pool.mode == PoolMode::kMax) {
        if (int k = BiasConsumer(static_cast<size_t>(p), g.out_channels); k >= 0) {
          bias = LowerNode(static_cast<size_t>(k)).bias->data();
          Absorb(static_cast<size_t>(k), static_cast<size_t>(p));
          pool_bias_[static_cast<size_t>(p)] = k;
          pool_node = p;
          fused = " + bias (moved before the max pool)";
        }
      }
    }
    Activation act = Activation::kOther;
    if (pool_node < 0) {
      act = FuseActivation(end, i);
      if (act != Activation::kOther) absl::StrAppend(&fused, " + ", ActivationName(act));
    }

    // (Planar tap offsets are int32: an image's shifted copies must stay under 2^31 floats.)
    if (g.stride_h == 1 && g.stride_w == 1 && g.groups == 1 &&
        fast::ShiftForConv(g).PerImage() <= std::numeric_limits<int32_t>::max() &&
        fast::PreferPlanar(g.out_channels, g.out_h * g.out_w)) {
      return PlanPlanarConv(i, l, bias, act, fused);
    }
    const int residual = FuseResidual(i, end, &act, &fused);
    int x = Nhwc(NodeValue(graph_.layer_inputs(i)[0]));

    // Padding: copy into a zero-bordered buffer big enough for every window.
    const int64_t bottom = std::max<int64_t>(
        0, (g.out_h - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1 - g.pad_top - g.in_h);
    const int64_t right = std::max<int64_t>(
        0, (g.out_w - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1 - g.pad_left - g.in_w);
    int64_t ph = g.in_h, pw = g.in_w;
    if (g.pad_top > 0 || g.pad_left > 0 || bottom > 0 || right > 0) {
      Step s;
      s.kind = StepKind::kPad;
      s.in = {x};
      s.c = g.in_channels, s.h = g.in_h, s.w = g.in_w;
      s.frame.top = g.pad_top, s.frame.left = g.pad_left;
      ph = s.frame.padded_h = g.in_h + g.pad_top + bottom;
      pw = s.frame.padded_w = g.in_w + g.pad_left + right;
      s.label =
          absl::StrCat("pad (", g.pad_top, ", ", bottom, ") x (", g.pad_left, ", ", right, ")");
      Value out;
      out.shape = {1, g.in_channels, ph, pw};
      out.layout = Layout::kNhwc;
      x = AddStep(std::move(s), out);
      dedicated_.push_back(x);
    }

    Step s;
    s.kind = StepKind::kConv;
    s.in = {x};
    if (residual >= 0) s.in.push_back(residual);
    s.weights = fast::PackConvWeights(l.weights->data(), g.out_channels, g.in_channels / g.groups,
                                      g.kh, g.kw, g.groups, bias,
                                      fast::ChooseBlock(g.out_channels / g.groups, false));
    if (g.dil_w == 1 && g.groups == 1) {
      // A kernel row's kw taps x C channels are kw * C consecutive floats of the NHWC input, in
      // the packed weights' order too: reduce over kh taps of kw * C "channels" (fewer, longer
      // loops; LeNet's 5x5 on one channel becomes 5 taps of 5 instead of 25 taps of 1).
      s.weights.taps = g.kh;
      s.weights.in_per_group = g.kw * g.in_channels;
      for (int64_t a = 0; a < g.kh; ++a) s.tap_at.push_back({a * g.dil_h, 0});
    } else {
      for (int64_t a = 0; a < g.kh; ++a) {
        for (int64_t b = 0; b < g.kw; ++b) s.tap_at.push_back({a * g.dil_h, b * g.dil_w});
      }
    }
    s.task.in_c = g.in_channels;
    SetTapOffsets(&s, pw);
    s.task.in_h = ph;
    s.task.in_w = pw;
    s.task.kh = g.kh;
    s.task.dil_h = g.dil_h;
    s.task.rows_lo = g.pad_top;
    s.task.rows_hi = g.pad_top + g.in_h;
    if (g.dil_w == 1 && g.groups == 1) {  // Kernel columns merged into the channels (above).
      s.task.kw_merged = g.kw;
      s.task.cols_lo = g.pad_left;
      s.task.cols_hi = g.pad_left + g.in_w;
    }
    s.task.out_h = g.out_h;
    s.task.out_w = g.out_w;
    s.task.stride_h = g.stride_h;
    s.task.stride_w = g.stride_w;
    s.task.activation = act;
    s.label = absl::StrCat(Label(i), ": conv ", g.kh, "x", g.kw, " ", g.in_channels, "->",
                           g.out_channels, " groups ", g.groups, " stride (", g.stride_h, ", ",
                           g.stride_w, ") dilation (", g.dil_h, ", ", g.dil_w, "), out ", g.out_h,
                           "x", g.out_w, " NHWC, ", s.weights.block, "-channel blocks", fused);
    Value out;
    out.shape = shapes_[i];
    out.layout = Layout::kNhwc;
    node_value_[i] = AddStep(std::move(s), out);
    return absl::OkStatus();
  }

  // A stride-1 conv in the planar layout (fast::RunPlanarConv): NCHW in, shifted copies, NCHW out.
  absl::Status PlanPlanarConv(size_t i, const Lowering<float>& l, const float* bias, Activation act,
                              const std::string& fused) {
    const ConvGeometry& g = l.conv;
    const int input = graph_.layer_inputs(i)[0];
    const int x = Plain(NodeValue(input));
    Step sh;
    sh.kind = StepKind::kShift;
    sh.in = {x};
    const fast::ShiftGeometry sg = fast::ShiftForConv(g);
    sh.shift = sg;
    sh.label = absl::StrCat("shift: ", g.kw, " column-shifted copies of ", g.in_channels, "x",
                            sg.shifted_h, "x", g.out_w, " (padding (", g.pad_top, ", ", g.pad_left,
                            ") folded in) for the planar conv");
    const int64_t per_image = sg.PerImage();
    int sv = -1;
    // A planar pool read by this conv alone writes the shifted copies itself.
    Step* producer = plan_.steps.empty() ? nullptr : &plan_.steps.back();
    if (input >= 0 && consumers_[static_cast<size_t>(input)] == 1 && producer != nullptr &&
        producer->out == x && producer->kind == StepKind::kPool && producer->pool_planar) {
      producer->pool_shifts = true;
      producer->shift = sg;
      absl::StrAppend(&producer->label, ", written as ", g.kw,
                      " column-shifted copies for the planar conv");
      plan_.values[static_cast<size_t>(x)].shape = {1, per_image};
      sv = x;
    } else {
      Value shifted;
      shifted.shape = {1, per_image};
      sv = AddStep(std::move(sh), shifted);
    }

    Step s;
    s.kind = StepKind::kPlanarConv;
    s.in = {sv};
    s.planar =
        fast::PackPlanarWeights(l.weights->data(), g.out_channels, g.in_channels, g.kh, g.kw, bias);
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
    s.label =
        absl::StrCat(Label(i), ": conv ", g.kh, "x", g.kw, " ", g.in_channels, "->", g.out_channels,
                     " dilation (", g.dil_h, ", ", g.dil_w, "), out ", g.out_h, "x", g.out_w,
                     " planar (pixels in lanes), tiles of ", s.planar.tile, " channels", fused);
    Value out;
    out.shape = shapes_[i];
    node_value_[i] = AddStep(std::move(s), out);
    return absl::OkStatus();
  }

  absl::Status PlanDense(size_t i, const Lowering<float>& l) {
    int x = NodeValue(graph_.layer_inputs(i)[0]);
    const int64_t* chw = nullptr;
    if (V(x).layout == Layout::kFlatNhwc) {
      chw = V(x).chw.data();
    } else {
      x = Plain(x);
    }
    const int64_t n_in = l.weights->dim(0), n_out = l.weights->dim(1);
    Step s;
    s.kind = StepKind::kConv;
    s.in = {x};
    s.weights = fast::PackDenseWeights(l.weights->data(), n_in, n_out, l.bias->data(),
                                       fast::ChooseBlock(n_out, false), chw);
    s.weights_small = fast::PackDenseWeights(l.weights->data(), n_in, n_out, l.bias->data(),
                                             fast::ChooseBlock(n_out, true), chw);
    s.taps = {0};
    s.task.in_h = s.task.in_w = s.task.out_h = s.task.out_w = 1;
    s.task.in_c = n_in;
    s.task.activation = FuseActivation(i, i);
    s.label = absl::StrCat(Label(i), ": dense ", n_in, "->", n_out, ", ", s.weights.block, "/",
                           s.weights_small.block, "-channel blocks (from/below ", kSmallBatch,
                           " rows)", chw != nullptr ? " (rows permuted for NHWC input)" : "",
                           s.task.activation == Activation::kOther ? "" : " + ",
                           ActivationName(s.task.activation));
    Value out;
    out.shape = shapes_[i];
    node_value_[i] = AddStep(std::move(s), out);
    return absl::OkStatus();
  }

  absl::Status PlanPool(size_t i, const Lowering<float>& l) {
    // An NCHW value (a planar conv's output, the graph input, a reference layer's output) is
    // pooled as planes; anything else as NHWC.
    int x = NodeValue(graph_.layer_inputs(i)[0]);
    const bool planar = V(x).layout == Layout::kPlain && V(x).shape.size() == 4;
    if (!planar) x = Nhwc(x);
    Step s;
    s.kind = StepKind::kPool;
    s.pool_planar = planar;
    s.in = {x};
    s.pool = l.pool;
    s.c = V(x).shape[1], s.h = V(x).shape[2], s.w = V(x).shape[3];
    s.out_h = shapes_[i][2], s.out_w = shapes_[i][3];
    if (planar) s.planar_pool = fast::PreparePlanarPool(s.h, s.w, s.pool, s.out_h, s.out_w);
    size_t end = i;
    auto it = pool_bias_.find(i);
    if (it != pool_bias_.end()) end = static_cast<size_t>(it->second);
    s.activation = FuseActivation(end, i);
    s.label = absl::StrCat(
        Label(i), ": pool ", s.pool.ws[0], "x", s.pool.ws[1], planar ? " planar (NCHW)" : " NHWC",
        s.activation == Activation::kOther ? "" : " + ", ActivationName(s.activation));
    Value out;
    out.shape = shapes_[i];
    out.layout = planar ? Layout::kPlain : Layout::kNhwc;
    node_value_[i] = AddStep(std::move(s), out);
    return absl::OkStatus();
  }

  // Buffer planning: values whose lives do not overlap share a slot. A step may write over its
  // first input when that input dies there and the kernel works in place.
  // The value whose buffer v shares (itself unless v is an alias).
  int Root(int v) const {
    while (alias_value_.count(v)) v = alias_value_.at(v);
    return v;
  }

  void AssignSlots() {
    const int num_values = static_cast<int>(plan_.values.size());
    auto root = [&](int v) { return Root(v); };
    auto scratch = [&](int v) { return V(v).group_offset >= 0; };
    std::vector<int> last_use(static_cast<size_t>(num_values), -1);
    for (size_t s = 0; s < plan_.steps.size(); ++s) {
      for (int v : plan_.steps[s].in) last_use[static_cast<size_t>(root(v))] = static_cast<int>(s);
    }
    const int out_root = root(plan_.output_value);
    last_use[static_cast<size_t>(out_root)] = static_cast<int>(plan_.steps.size());
    std::vector<bool> busy;
    std::vector<bool> dedicated;
    auto acquire = [&](int64_t elements, bool own) {
      int best = -1;
      for (size_t k = 0; k < busy.size() && !own; ++k) {
        if (busy[k] || dedicated[k]) continue;
        if (best < 0 || std::abs(plan_.slot_elements[k] - elements) <
                            std::abs(plan_.slot_elements[static_cast<size_t>(best)] - elements)) {
          best = static_cast<int>(k);
        }
      }
      if (best < 0) {
        plan_.slot_elements.push_back(0);
        busy.push_back(false);
        dedicated.push_back(own);
        best = static_cast<int>(busy.size()) - 1;
      }
      auto& size = plan_.slot_elements[static_cast<size_t>(best)];
      size = std::max(size, elements);
      busy[static_cast<size_t>(best)] = true;
      return best;
    };
    for (size_t s = 0; s < plan_.steps.size(); ++s) {
      Step& step = plan_.steps[s];
      Value& out = plan_.values[static_cast<size_t>(step.out)];
      const bool in_place_ok = step.kind == StepKind::kElementwise ||
                               step.kind == StepKind::kBias || step.kind == StepKind::kAdd;
      const int first = root(step.in[0]);
      if (scratch(step.out)) {  // Takes no slot; frees the slots of inputs read for the last time.
        for (int v : step.in) {
          const int r = root(v);
          if (r != plan_.input_value && !scratch(r) &&
              last_use[static_cast<size_t>(r)] == static_cast<int>(s)) {
            busy[static_cast<size_t>(V(r).slot)] = false;
          }
        }
        continue;
      }
      const bool own =
          std::find(dedicated_.begin(), dedicated_.end(), step.out) != dedicated_.end();
      if (in_place_ok && first != plan_.input_value && !scratch(first) &&
          last_use[static_cast<size_t>(first)] == static_cast<int>(s) &&
          !dedicated[static_cast<size_t>(V(first).slot)]) {
        out.slot = V(first).slot;
        last_use[static_cast<size_t>(first)] = -1;  // Handed over.
      } else {
        out.slot = acquire(out.Elements(), own);
      }
      for (int v : step.in) {
        const int r = root(v);
        if (r != plan_.input_value && !scratch(r) &&
            last_use[static_cast<size_t>(r)] == static_cast<int>(s) && V(r).slot != out.slot) {
          busy[static_cast<size_t>(V(r).slot)] = false;
        }
      }
    }
    // Aliases (reshapes, one-channel layout changes) share their source's buffer.
    for (int v = 0; v < num_values; ++v) {
      if (alias_value_.count(v)) {
        plan_.values[static_cast<size_t>(v)].slot = V(root(v)).slot;
        plan_.values[static_cast<size_t>(v)].group_offset = V(root(v)).group_offset;
      }
    }
  }

  const Graph<float>& graph_;
  FastGraph::Plan& plan_;
  std::vector<Shape> shapes_;        // Per node, batch 1.
  std::vector<int> node_value_;      // Per node: the value holding its output.
  std::vector<int> alias_;           // Per node: the node whose value it shares (fused), or -1.
  std::vector<bool> absorbed_;       // Fused into an earlier step.
  std::vector<int> consumers_;       // Per node: how many inputs read it (+1 for the output).
  std::map<size_t, int> pool_bias_;  // Pool node -> the bias_add moved before it.
  std::map<int, int> plain_of_, nhwc_of_;
  std::map<int, int> alias_value_;  // Value -> the value whose buffer it shares.
  std::vector<int> dedicated_;      // Values with their own zero-bordered buffer.
};

}  // namespace

void SetImageBlockBytesForTesting(int64_t bytes) { image_block_bytes = bytes; }

void SetImageBlockMaxBytesForTesting(int64_t bytes) {
  image_block_max_bytes = bytes > 0 ? bytes : kImageBlockMaxBytes;
}

FastGraph::FastGraph(Shape item_shape, FastOptions options)
    : item_shape_(std::move(item_shape)), options_(options) {}
FastGraph::~FastGraph() = default;

absl::StatusOr<std::unique_ptr<FastGraph>> FastGraph::Compile(const Graph<float>& graph,
                                                              const Shape& item_shape,
                                                              FastOptions options) {
  if (graph.num_layers() == 0) return absl::InvalidArgumentError("the graph has no layers");
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be at least 1, got ", options.threads));
  }
  Shape one = {1};
  Shape two = {2};
  one.insert(one.end(), item_shape.begin(), item_shape.end());
  two.insert(two.end(), item_shape.begin(), item_shape.end());
  ASSIGN_OR_RETURN(std::vector<LayerSummary> s1, graph.Describe(one));
  ASSIGN_OR_RETURN(std::vector<LayerSummary> s2, graph.Describe(two));
  // The plan scales every buffer with the batch: each layer's output must be (batch, ...).
  for (size_t i = 0; i < s1.size(); ++i) {
    Shape doubled = s1[i].output_shape;
    if (!doubled.empty()) doubled[0] *= 2;
    if (s1[i].output_shape.empty() || s1[i].output_shape[0] != 1 || doubled != s2[i].output_shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          graph.layer(i).spec().Describe(), ": output ", ShapeToString(s1[i].output_shape),
          " does not keep the batch as its first axis; the fast engine cannot plan it"));
    }
  }
  std::unique_ptr<FastGraph> fg(new FastGraph(item_shape, options));
  fg->plan_ = std::make_unique<Plan>();
  Planner planner(graph, s1, one, fg->plan_.get());
  RETURN_IF_ERROR(planner.Build());
  return fg;
}

namespace {

// Where value v's images [b0, ...) start.
// (Group scratch values: the group's first image, wherever b0 is.)
float* ValuePointer(const FastGraph::Plan& plan, const FastGraph::Plan::Workspace& ws,
                    const Tensor<float>& input, int v, int64_t b0, float* scratch) {
  const Value& val = plan.values[static_cast<size_t>(v)];
  if (val.group_offset >= 0) return scratch + val.group_offset;
  float* base = val.slot < 0 ? const_cast<float*>(input.data())
                             : ws.slots[static_cast<size_t>(val.slot)].get();
  return base + b0 * val.Elements();
}

// Runs step si on images [b0, b0 + n).
void RunStep(const FastGraph::Plan& plan, size_t si, FastGraph::Plan::Workspace* ws,
             const Tensor<float>& input, int64_t b0, int64_t n, float* scratch, int threads) {
  const Step& s = plan.steps[si];
  auto ptr = [&](int v) -> float* { return ValuePointer(plan, *ws, input, v, b0, scratch); };
  const float* x = ptr(s.in[0]);
  float* y = ptr(s.out);
  switch (s.kind) {
    case StepKind::kToNhwc:
      fast::NchwToNhwc(x, n, s.c, s.h, s.w, s.frame, y, threads);
      break;
    case StepKind::kToPlain:
      fast::NhwcToNchw(x, n, s.c, s.h, s.w, y, threads);
      break;
    case StepKind::kPad:
      fast::CopyIntoPadded(x, n, s.h, s.w, s.c, s.frame, y, threads);
      break;
    case StepKind::kConv: {
      ConvTask task = s.task;
      task.input = x;
      task.output = y;
      task.batch = n;
      task.tap_offsets = s.taps.data();
      task.residual = s.in.size() > 1 ? ptr(s.in[1]) : nullptr;
      task.weights =
          (s.weights_small.data != nullptr && n < kSmallBatch) ? &s.weights_small : &s.weights;
      fast::RunConv(task, threads);
      break;
    }
    case StepKind::kShift:
      fast::ShiftForPlanar(x, n, s.shift, y, threads);
      break;
    case StepKind::kPlanarConv: {
      fast::PlanarConvTask task;
      task.shifted = x;
      task.batch = n;
      task.shifted_per_image = s.shift.PerImage();
      task.pixels = s.pixels;
      task.offsets = s.offsets.data();
      task.weights = &s.planar;
      task.output = y;
      task.activation = s.activation;
      fast::RunPlanarConv(task, threads);
      break;
    }
    case StepKind::kPool:
      if (s.pool_planar) {
        fast::RunPoolPlanar(s.planar_pool, x, n * s.c, y, s.activation,
                            s.pool_shifts ? &s.shift : nullptr, threads);
      } else {
        fast::RunPool(x, n, s.h, s.w, s.c, s.pool, s.out_h, s.out_w, s.frame, y, s.activation,
                      threads);
      }
      break;
    case StepKind::kBias:
      fast::AddChannelBias(x, s.bias, n * s.h, s.c, y, threads);
      fast::ApplyActivation(s.activation, y, y, n * s.h * s.c);
      break;
    case StepKind::kElementwise: {
      const int64_t count = n * plan.values[static_cast<size_t>(s.out)].Elements();
      if (s.activation != Activation::kOther) {
        fast::ApplyActivation(s.activation, x, y, count);
      } else {
        s.apply(x, y, count);
      }
      break;
    }
    case StepKind::kAdd: {
      absl::InlinedVector<const float*, 8> xs;  // On the stack for up to 8 terms.
      for (int v : s.in) xs.push_back(ptr(v));
      fast::AddArrays(xs, n * plan.values[static_cast<size_t>(s.out)].Elements(), y, s.activation,
                      threads);
      break;
    }
    case StepKind::kReference: {
      // The tensors, their pointers and shapes are kept in the workspace: once warm, only the
      // reference layer itself may allocate.
      FastGraph::Plan::Workspace::ReferenceIo& io = ws->reference[si];
      io.ins.resize(s.in.size());
      io.in_ptrs.clear();
      for (size_t k = 0; k < s.in.size(); ++k) {
        io.shape = s.in_shapes[k];
        io.shape[0] = n;
        if (io.ins[k].shape() != io.shape) io.ins[k].Resize(io.shape);
        CopyFloats(io.ins[k].data(), ptr(s.in[k]), io.ins[k].size());
        io.in_ptrs.push_back(&io.ins[k]);
      }
      io.shape = s.out_shape;
      io.shape[0] = n;
      if (io.out.shape() != io.shape) io.out.Resize(io.shape);
      s.layer->Run(io.in_ptrs, &io.out);
      CopyFloats(y, io.out.data(), io.out.size());
      break;
    }
  }
}

}  // namespace

absl::Status FastGraph::RunTimed(const Tensor<float>& input, Tensor<float>* output,
                                 std::vector<double>* step_seconds) const {
  const Plan& plan = *plan_;
  const Shape& in_shape = input.shape();
  if (in_shape.size() != item_shape_.size() + 1 ||
      !std::equal(item_shape_.begin(), item_shape_.end(), in_shape.begin() + 1) ||
      in_shape[0] < 0) {
    Shape want = {-1};
    want.insert(want.end(), item_shape_.begin(), item_shape_.end());
    return absl::InvalidArgumentError(absl::StrCat("input shape ", ShapeToString(in_shape),
                                                   " does not match the model's (N",
                                                   ShapeToString(item_shape_).substr(1)));
  }
  const int64_t n = in_shape[0];
  // (An output tensor reused at the same batch size is not reshaped: no allocation.)
  const Shape& have = output->shape();
  if (have.size() != plan.output_shape.size() || have.empty() || have[0] != n ||
      !std::equal(have.begin() + 1, have.end(), plan.output_shape.begin() + 1)) {
    Shape out_shape = plan.output_shape;
    out_shape[0] = n;
    output->Resize(out_shape);
  }
  if (n == 0) return absl::OkStatus();

  std::unique_ptr<Plan::Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(plan.mu);
    if (!plan.free_workspaces.empty()) {
      ws = std::move(plan.free_workspaces.back());
      plan.free_workspaces.pop_back();
    }
  }
  if (ws == nullptr) ws = std::make_unique<Plan::Workspace>();
  if (ws->capacity < n) {
    ws->slots.clear();
    for (int64_t e : plan.slot_elements) ws->slots.push_back(fast::AllocateZeroed(e * n));
    ws->capacity = n;
  }
  if (ws->group_scratch.empty() && plan.group_scratch_floats > 0) {
    for (int t = 0; t < options_.threads; ++t) {
      ws->group_scratch.push_back(fast::AllocateZeroed(plan.group_scratch_floats));
    }
  }
  auto ptr = [&](int v) -> float* { return ValuePointer(plan, *ws, input, v, 0, nullptr); };
  const int threads = options_.threads;
  if (step_seconds != nullptr) step_seconds->resize(plan.steps.size(), 0.0);

  auto timed = [&](size_t si, int64_t b0, int64_t count, float* scratch, int t) {
    if (step_seconds == nullptr) {
      RunStep(plan, si, ws.get(), input, b0, count, scratch, t);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    RunStep(plan, si, ws.get(), input, b0, count, scratch, t);
    (*step_seconds)[si] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (size_t si = 0; si < plan.steps.size();) {
    const size_t block_end = plan.block_end[si];
    if (block_end == si + 1) {
      timed(si, 0, n, nullptr, threads);
      ++si;
      continue;
    }
    // An image block: its steps run group of images by group (each group's intermediates stay
    // in cache, in the thread's group scratch), the groups spread over the threads (one thread
    // when profiling, so that each step's time is its own).
    // With fewer groups than threads, the groups run in turn, each step on every thread.
    const int64_t images = plan.block_images[si];
    const int64_t groups = (n + images - 1) / images;
    const bool spread = groups >= threads && step_seconds == nullptr;
    fast::ParallelRanges(groups, spread ? threads : 1, [&](int64_t begin, int64_t end) {
      // A block whose values are all read after it has no scratch.
      float* scratch = ws->group_scratch.empty()
                           ? nullptr
                           : ws->group_scratch[static_cast<size_t>(fast::TeamMember())].get();
      for (int64_t gi = begin; gi < end; ++gi) {
        const int64_t b0 = gi * images;
        for (size_t k = si; k < block_end; ++k) {
          timed(k, b0, std::min(n, b0 + images) - b0, scratch, spread ? 1 : threads);
        }
      }
    });
    si = block_end;
  }
  CopyFloats(output->data(), ptr(plan.output_value), output->size());
  {
    std::lock_guard<std::mutex> lock(plan.mu);
    plan.free_workspaces.push_back(std::move(ws));
  }
  return absl::OkStatus();
}

std::string FastGraph::Describe() const {
  std::vector<std::string> lines;
  int64_t total = 0;
  for (int64_t e : plan_->slot_elements) total += e;
  lines.push_back(absl::StrCat("fast engine, ", options_.threads, " thread(s), ",
                               plan_->steps.size(), " steps, ", plan_->slot_elements.size(),
                               " buffers of ", total * 4, " bytes per image"));
  for (size_t i = 0; i < plan_->steps.size(); ++i) {
    std::string line = absl::StrCat("  ", plan_->steps[i].label);
    if (plan_->block_end[i] > i + 1) {
      absl::StrAppend(&line, " [image block of steps ", i + 1, "-", plan_->block_end[i], ", ",
                      plan_->block_images[i], " images per group]");
    }
    lines.push_back(std::move(line));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace theano_serving
