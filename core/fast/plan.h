// The plan: what FastGraph::Compile produces and the executor runs. A list of steps over values;
// each step is one kernel call (or one reference layer), with the data of its kind in a small
// struct of its own (StepOp). The planner (planner.h) emits steps layer by layer, the passes
// (passes.h) rewrite them, and the executor (executor.h) runs them.
//
// Adding a step kind: a struct here and in StepOp, then every std::visit over StepOp fails to
// compile until the new kind is handled there (the executor's StepRunner, passes.cc's
// BlockRoleOf, WritesInPlace and WritableFrame); see core/fast/README.md.
#ifndef THEANO_SERVING_CORE_FAST_PLAN_H_
#define THEANO_SERVING_CORE_FAST_PLAN_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "core/fast/conv.h"
#include "core/fast/kernel_common.h"
#include "core/fast/planar_conv.h"
#include "core/fast/pool.h"
#include "core/fast/winograd.h"
#include "core/layer.h"
#include "core/lowering.h"
#include "core/shape.h"

namespace theano_serving {
namespace fast {

// How a value's elements are laid out in its buffer.
enum class Layout {
  kPlain,      // C order of the logical shape (NCHW for images): what the reference layers use.
  kNhwc,       // A 4-D (N, C, H, W) value stored (N, H, W, C).
  kFlatNhwc,   // flatten(ndim=2) of a kNhwc image: (N, C*H*W) stored in (H, W, C) order.
  kFlat3Nhwc,  // flatten(ndim=3) of a kNhwc image: (N, C, H*W) stored (N, H*W, C).
};
inline const char* LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kPlain:
      return "plain";
    case Layout::kNhwc:
      return "NHWC";
    case Layout::kFlatNhwc:
      return "flat-NHWC";
    case Layout::kFlat3Nhwc:
      return "flat3-NHWC";
  }
  return "?";
}

// "relu", "tanh", "sigmoid"; "" for kOther.
inline const char* ActivationName(Activation activation) {
  switch (activation) {
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

// A value the steps pass along: its logical shape for one item (dim 0 = 1) and where it lives.
// Buffers scale with the batch: a value of a batch of n takes n * Elements() floats.
struct Value {
  Shape shape;  // Logical shape with batch 1.
  Layout layout = Layout::kPlain;
  std::array<int64_t, 3> chw = {0, 0, 0};  // kFlat(3)Nhwc: the flattened image's (C, H, W).
  // The value whose buffer this one is (a reshape, a one-channel layout change), or -1. Only
  // roots (alias_of == -1) are written by steps and get slots.
  int alias_of = -1;
  // Needs a workspace buffer that no other value shares: a padded buffer (its zero border is
  // written once) or a value an image block writes and later steps read.
  bool own_slot = false;
  int slot = -1;  // Workspace buffer (AssignSlots); -1 = the graph input.
  // Written and read only inside an image block: lives in the per-thread group scratch at this
  // offset (block_images * Elements() floats), not in a slot.
  int64_t group_offset = -1;
  int64_t Elements() const { return NumElements(shape); }
};

// ---- Step kinds: one struct each. Input and output values are in Step::in / Step::out. ----------

// NCHW -> NHWC of a (c, h, w) image, the output in `frame` (FoldPads may point it into a pad).
struct ToNhwcStep {
  int64_t c = 0, h = 0, w = 0;
  OutputFrame frame;
};
// NHWC (or flattened NHWC) -> C order of a (c, h, w) image.
struct ToPlainStep {
  int64_t c = 0, h = 0, w = 0;
};
// Copies an NHWC (c, h, w) image into the interior of a zero-bordered buffer (`frame`).
struct PadStep {
  int64_t c = 0, h = 0, w = 0;
  OutputFrame frame;
};
// An NHWC convolution (RunConv); in[1], if present, is the residual its epilogue adds.
struct ConvStep {
  PackedWeights weights;
  // Each tap's (input row, input column) offset from a pixel's window corner, and the float
  // offsets made of them for the input buffer's row width (SetTapOffsets).
  std::vector<std::array<int64_t, 2>> tap_at;
  std::vector<int64_t> taps;
  ConvTask task;  // Pointers and batch filled per run.
  // Non-empty: the conv runs as Winograd F(2x2, 3x3) (RunWinogradConv) with these filters;
  // `weights` then holds only the bias and the batch norm (its filters are not packed).
  WinogradWeights winograd;

  // Sets `taps` for an input buffer of `row_width` pixels per row (task.in_c set).
  void SetTapOffsets(int64_t row_width) {
    taps.clear();
    for (const auto& [row, col] : tap_at) taps.push_back((row * row_width + col) * task.in_c);
  }
};
// A dense layer as a 1x1 conv over rows (RunConv); `weights_small` for batches below kSmallBatch.
struct DenseStep {
  PackedWeights weights;
  PackedWeights weights_small;
  std::vector<int64_t> taps;  // {0}
  ConvTask task;
};
// The shifted copies a planar conv reads (ShiftForPlanar).
struct ShiftStep {
  ShiftGeometry shift;
};
// A planar conv (RunPlanarConv) over the shifted copies `shift` describes.
struct PlanarConvStep {
  ShiftGeometry shift;
  PlanarWeights weights;
  std::vector<int32_t> offsets;  // Per k: the tap's offset in an image's shifted copies.
  int64_t pixels = 0;            // Output pixels per image.
  Activation activation = Activation::kOther;
};
// pool_2d of an NHWC (c, h, w) image (RunPool), the output in `frame`.
struct PoolStep {
  PoolConfig config;
  int64_t c = 0, h = 0, w = 0;
  int64_t out_h = 0, out_w = 0;
  OutputFrame frame;
  Activation activation = Activation::kOther;
};
// pool_2d of NCHW planes (RunPoolPlanar); with `writes_shifts`, its output is the shifted copies
// (`shift`) of the planar conv that alone reads it.
struct PlanarPoolStep {
  PlanarPool pool;
  int64_t c = 0;
  Activation activation = Activation::kOther;
  bool writes_shifts = false;
  ShiftGeometry shift;
};
// Adds a per-channel bias to (or, with `multiply`, multiplies by a per-channel scale) `pixels`
// pixels of `c` channels per item (NHWC or 2-D), then the activation.
struct BiasStep {
  const float* bias = nullptr;  // The layer's; the graph outlives the plan.
  bool multiply = false;
  int64_t c = 0, pixels = 0;
  Activation activation = Activation::kOther;
};
// An element-wise function: a fast activation, a leaky relu (LeakyRelu), or the layer's reference
// `apply`; over the threads in ranges of whole cache lines.
struct ElementwiseStep {
  Activation activation = Activation::kOther;
  std::function<void(const float*, float*, int64_t)> apply;
  bool leaky = false;
  float leaky_f1 = 0.0f, leaky_f2 = 0.0f;
};
// Sums the inputs left to right, then the activation.
struct SumStep {
  Activation activation = Activation::kOther;
};
// batch_norm_inv_std per channel (RunBatchNorm), then the activation, on (c, h, w) per item:
// channels-last (NHWC, or a 2-D (N, C) value with h = w = 1; the output in `frame`) or
// channels-first (NCHW planes).
struct BatchNormStep {
  BatchNormParams<float> norm;  // The layer's; the graph outlives the plan.
  int64_t c = 0, h = 1, w = 1;
  bool channels_last = true;
  Activation activation = Activation::kOther;
  OutputFrame frame;  // Channels-last only.
};
// Lasagne's LRN across the channels of an NHWC (c, h, w) image (RunLrn), the output in `frame`.
struct LrnStep {
  LrnParams<float> lrn;
  int64_t c = 0, h = 0, w = 0;
  OutputFrame frame;
};
// Copies each input into its slice of a concatenation: NHWC images of h x w pixels along their
// channels (`channels` each, at `offsets`, `total` in all, the output in `frame`), or, for other
// values (`nhwc` false: plain), per item h rows of `total` blocks of w floats, input k's
// `channels[k]` blocks at block `offsets[k]` (concatenating along an axis: h = the product of the
// axes before it, w of the axes after it). Inputs whose producers write their slice themselves
// (FoldConcats) are no longer in its list.
struct ConcatStep {
  bool nhwc = true;
  int64_t h = 0, w = 0, total = 0;
  std::vector<int64_t> channels, offsets;  // Per input (Step::in).
  OutputFrame frame;                       // NHWC only.
};
// A reduction over all pixels per channel (RunReduce): a global pool. Its input is channels-last
// (NHWC or flattened to 3-D) or channels-first (C-order planes); its output (c values per item)
// plain.
struct ReduceStep {
  ReduceParams reduce;
  int64_t c = 0, pixels = 0;
  bool channels_last = true;
};
// A Subtensor (RunSlice): per item, its elements seen as (outer, n, inner) in memory order around
// the sliced axis; `length` rows of `inner` floats from row `start`, `step` rows apart. The value
// keeps its layout (plain or NHWC).
struct SliceStep {
  int64_t outer = 1, n = 0, inner = 1;
  int64_t start = 0, step = 1, length = 0;
};
// A reduction over one axis (RunAxisReduce): per item, its elements seen as (outer, n, inner) in
// memory order around the axis; outer x inner outputs. Maxout (FeaturePoolLayer) of an NHWC
// image of C channels in groups of p: (h * w * C / p, p, 1), its output NHWC.
struct AxisReduceStep {
  ReduceParams reduce;
  int64_t outer = 1, n = 0, inner = 1;
};
// softmax / log_softmax of the rows of a plain 2-D value (RunSoftmax): the reference's formula.
struct SoftmaxStep {
  bool log = false;
  int64_t cols = 0;  // Per row (= item).
};
// A layer without a fast kernel: its reference Run() on plain (C-order) tensors.
struct ReferenceStep {
  const Layer<float>* layer = nullptr;
  std::vector<Shape> in_shapes;  // Batch 1.
  Shape out_shape;
};

using StepOp = std::variant<ToNhwcStep, ToPlainStep, PadStep, ConvStep, DenseStep, ShiftStep,
                            PlanarConvStep, PoolStep, PlanarPoolStep, BiasStep, ElementwiseStep,
                            SumStep, BatchNormStep, LrnStep, ConcatStep, ReduceStep, SliceStep,
                            AxisReduceStep, SoftmaxStep, ReferenceStep>;

struct Step {
  std::string label;    // Describe()'s line.
  std::vector<int> in;  // Value ids.
  // The value it writes. A concatenation's value may be written by several steps, each its own
  // channels (FoldConcats): the first of them starts its life.
  int out = -1;
  StepOp op;
};

// Dense layers with fewer rows than this use their `weights_small` (wider channel blocks: one row
// x 16 channels has too few independent accumulators to hide the FMA latency).
inline constexpr int64_t kSmallBatch = 6;

struct Plan {
  std::vector<Value> values;
  std::vector<Step> steps;
  std::vector<int64_t> slot_elements;  // Per item.
  // Image blocks: steps [i, block_end[i]) run together per group of block_images[i] images
  // (block_end[i] == i + 1: step i runs alone, on the whole batch).
  std::vector<size_t> block_end;
  std::vector<int64_t> block_images;
  int64_t group_scratch_floats = 0;  // Per thread.
  // What any step's share of a parallel call needs of KernelEnv::scratch (SizeShareScratch).
  int64_t share_scratch_floats = 0;
  // Per-channel arrays the planner made (a scale folded into a conv's epilogue as a batch norm's
  // zero mean, unit inv_std and zero or bias-layer beta).
  std::vector<std::vector<float>> constants;
  int input_value = -1;
  int output_value = -1;
  Shape output_shape;  // Batch 1.

  const Value& value(int v) const { return values[static_cast<size_t>(v)]; }
  Value& value(int v) { return values[static_cast<size_t>(v)]; }
  // The value whose buffer v is (v itself unless v is an alias).
  int Root(int v) const {
    while (value(v).alias_of >= 0) v = value(v).alias_of;
    return v;
  }
};

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_PLAN_H_
