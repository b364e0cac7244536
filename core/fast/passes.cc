#include "core/fast/passes.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/fast/norm.h"

namespace theano_serving {
namespace fast {
namespace {

// ---- Pad folding --------------------------------------------------------------------------------

// Who reads and who writes each value.
struct ValueUses {
  // Per root value: its readers (step, input position).
  std::vector<std::vector<std::pair<size_t, size_t>>> readers;
  std::vector<int> producer;  // Per value: the step writing it, or -1.
  std::vector<bool> shared;   // Per root value: read through an alias, or the graph output.
};

ValueUses FindUses(const Plan& plan) {
  ValueUses uses;
  uses.readers.resize(plan.values.size());
  uses.producer.assign(plan.values.size(), -1);
  uses.shared.assign(plan.values.size(), false);
  uses.shared[static_cast<size_t>(plan.Root(plan.output_value))] = true;
  for (size_t k = 0; k < plan.steps.size(); ++k) {
    const Step& st = plan.steps[k];
    for (size_t pos = 0; pos < st.in.size(); ++pos) {
      const int v = st.in[pos];
      uses.readers[static_cast<size_t>(plan.Root(v))].push_back({k, pos});
      if (plan.Root(v) != v) uses.shared[static_cast<size_t>(plan.Root(v))] = true;
    }
    uses.producer[static_cast<size_t>(st.out)] = static_cast<int>(k);
  }
  return uses;
}

// Whether reader (k, pos) of the unpadded NHWC image v can read it inside a frame: an NHWC conv
// that writes plainly, reading v as its residual or as its whole (unpadded) input.
bool ReadsFramed(const Plan& plan, size_t k, size_t pos, int v) {
  const auto* conv = std::get_if<ConvStep>(&plan.steps[k].op);
  if (conv == nullptr || !conv->task.out_frame.IsPlain()) return false;
  if (pos == 1) return conv->task.res_frame.IsPlain();
  const Shape& shape = plan.value(v).shape;
  return pos == 0 && conv->task.in_top == 0 && conv->task.in_left == 0 &&
         conv->task.in_h == shape[2] && conv->task.in_w == shape[3];
}

// Where a step writes its NHWC output, if its kernel can write it into a frame (the interior of
// a zero-bordered buffer); nullptr if not.
struct WritableFrame {
  OutputFrame* operator()(ToNhwcStep& s) const { return &s.frame; }
  OutputFrame* operator()(ToPlainStep&) const { return nullptr; }
  OutputFrame* operator()(PadStep&) const { return nullptr; }
  OutputFrame* operator()(ConvStep& s) const { return &s.task.out_frame; }
  OutputFrame* operator()(DenseStep&) const { return nullptr; }
  OutputFrame* operator()(ShiftStep&) const { return nullptr; }
  OutputFrame* operator()(PlanarConvStep&) const { return nullptr; }
  OutputFrame* operator()(PoolStep& s) const { return &s.frame; }
  OutputFrame* operator()(PlanarPoolStep&) const { return nullptr; }
  OutputFrame* operator()(BiasStep&) const { return nullptr; }
  OutputFrame* operator()(ElementwiseStep&) const { return nullptr; }
  OutputFrame* operator()(SumStep&) const { return nullptr; }
  OutputFrame* operator()(BatchNormStep& s) const { return s.channels_last ? &s.frame : nullptr; }
  OutputFrame* operator()(LrnStep& s) const { return &s.frame; }
  OutputFrame* operator()(ConcatStep& s) const { return s.nhwc ? &s.frame : nullptr; }
  OutputFrame* operator()(ReduceStep&) const { return nullptr; }
  OutputFrame* operator()(SliceStep&) const { return nullptr; }
  OutputFrame* operator()(AxisReduceStep&) const { return nullptr; }
  OutputFrame* operator()(SoftmaxStep&) const { return nullptr; }
  OutputFrame* operator()(ReferenceStep&) const { return nullptr; }
};

// Makes the conv step `st` read its input `pos` inside the pad's frame (value pad.out).
void ReadFromFrame(const Step& pad, const OutputFrame& frame, size_t pos, Step* st) {
  auto& conv = std::get<ConvStep>(st->op);
  st->in[pos] = pad.out;
  if (pos == 1) {
    conv.task.res_frame = frame;
    absl::StrAppend(&st->label, ", residual read from the ", pad.label);
    return;
  }
  // A reader with more than one kernel row has its tap offsets re-derived for the frame's rows.
  conv.SetTapOffsets(frame.padded_w);
  conv.task.in_h = frame.padded_h;
  conv.task.in_w = frame.padded_w;
  conv.task.in_top = frame.top;
  conv.task.in_left = frame.left;
  absl::StrAppend(&st->label, ", input read from the ", pad.label);
}

// ---- Image blocks -------------------------------------------------------------------------------

// Image convolutions whose weights stay in L2 while every group reads them (dense layers run on
// the whole batch: their weights are the large operand).
constexpr int64_t kImageBlockMaxWeightBytes = 256 << 10;

// A step's part in image blocks. kInside: it may run inside one, working image by image (its
// output for images [b0, b0 + n) depends only on those images' inputs). kAnchor: also a
// convolution, whose output a block keeps in cache for the next step (a block needs one to pay).
// kOutside: it runs on the whole batch.
enum class BlockRole { kOutside, kInside, kAnchor };
struct BlockRoleOf {
  BlockRole operator()(const ToNhwcStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ToPlainStep&) const { return BlockRole::kOutside; }
  BlockRole operator()(const PadStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ConvStep& s) const {
    // (The filters a group reads: U for a Winograd conv, 16/9 of the direct packing.)
    const int64_t bytes = s.winograd.empty() ? s.weights.Bytes() : s.winograd.Bytes();
    return bytes <= kImageBlockMaxWeightBytes ? BlockRole::kAnchor : BlockRole::kOutside;
  }
  BlockRole operator()(const DenseStep&) const { return BlockRole::kOutside; }
  BlockRole operator()(const ShiftStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const PlanarConvStep&) const { return BlockRole::kAnchor; }
  BlockRole operator()(const PoolStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const PlanarPoolStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const BiasStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ElementwiseStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const SumStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const BatchNormStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const LrnStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ConcatStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ReduceStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const SliceStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const AxisReduceStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const SoftmaxStep&) const { return BlockRole::kInside; }
  BlockRole operator()(const ReferenceStep&) const { return BlockRole::kOutside; }
};

// The end of the block starting at step k: the longest run of blockable steps whose values fit
// max_image_bytes per image (a longer run is split greedily into several blocks); k + 1 if step k
// runs outside blocks. *per_image: the run's floats per image.
size_t BlockEnd(const Plan& plan, const std::vector<BlockRole>& roles, size_t k,
                int64_t max_image_bytes, int64_t* per_image) {
  const size_t num_steps = plan.steps.size();
  size_t end = k + 1;
  *per_image = plan.value(plan.steps[k].out).Elements();
  if (roles[k] == BlockRole::kOutside) return end;
  while (end < num_steps && roles[end] != BlockRole::kOutside &&
         (*per_image + plan.value(plan.steps[end].out).Elements()) *
                 static_cast<int64_t>(sizeof(float)) <=
             max_image_bytes) {
    *per_image += plan.value(plan.steps[end].out).Elements();
    ++end;
  }
  return end;
}

// Values read after the block [k, end) (or the graph's output) get buffers of their own; the
// others live in the group scratch. Offsets are never shared, not even across blocks: a padded
// value's zero border is written once, when the scratch is allocated.
void PlaceBlockValues(size_t k, size_t end, int64_t images, Plan* plan) {
  // A concatenation several steps write (FoldConcats) never lives in the scratch: its writers
  // need not share a block.
  std::vector<int> writers(plan->values.size(), 0);
  for (const Step& st : plan->steps) ++writers[static_cast<size_t>(st.out)];
  std::vector<bool> read_outside(plan->values.size(), false);
  read_outside[static_cast<size_t>(plan->Root(plan->output_value))] = true;
  for (size_t j = 0; j < plan->steps.size(); ++j) {
    if (j >= k && j < end) continue;
    for (int v : plan->steps[j].in) read_outside[static_cast<size_t>(plan->Root(v))] = true;
  }
  int64_t& offset = plan->group_scratch_floats;
  for (size_t j = k; j < end; ++j) {
    Value& v = plan->value(plan->steps[j].out);
    const size_t id = static_cast<size_t>(plan->steps[j].out);
    if (read_outside[id] || writers[id] > 1) {
      v.own_slot = true;
    } else {
      v.group_offset = offset;
      offset += images * v.Elements();
    }
  }
}

// ---- Slots --------------------------------------------------------------------------------------

// Steps that may write over their first input (element-wise kernels that allow x == y).
struct WritesInPlace {
  bool operator()(const ToNhwcStep&) const { return false; }
  bool operator()(const ToPlainStep&) const { return false; }
  bool operator()(const PadStep&) const { return false; }
  bool operator()(const ConvStep&) const { return false; }
  bool operator()(const DenseStep&) const { return false; }
  bool operator()(const ShiftStep&) const { return false; }
  bool operator()(const PlanarConvStep&) const { return false; }
  bool operator()(const PoolStep&) const { return false; }
  bool operator()(const PlanarPoolStep&) const { return false; }
  bool operator()(const BiasStep&) const { return true; }
  bool operator()(const ElementwiseStep&) const { return true; }
  bool operator()(const SumStep&) const { return true; }
  bool operator()(const BatchNormStep& s) const { return s.frame.IsPlain(); }
  bool operator()(const LrnStep&) const { return false; }
  bool operator()(const ConcatStep&) const { return false; }
  bool operator()(const ReduceStep&) const { return false; }
  bool operator()(const SliceStep&) const { return false; }
  bool operator()(const AxisReduceStep&) const { return false; }
  bool operator()(const SoftmaxStep&) const { return true; }
  bool operator()(const ReferenceStep&) const { return false; }
};

// The workspace slots as AssignSlots hands them out.
class Slots {
 public:
  explicit Slots(std::vector<int64_t>* elements) : elements_(*elements) {}

  // A free shareable slot closest in size to `elements` (grown to fit), or a new one; `own`:
  // always a new one, never shared afterwards.
  int Acquire(int64_t elements, bool own) {
    int best = -1;
    for (size_t k = 0; k < busy_.size() && !own; ++k) {
      if (busy_[k] || own_[k]) continue;
      if (best < 0 || std::abs(elements_[k] - elements) <
                          std::abs(elements_[static_cast<size_t>(best)] - elements)) {
        best = static_cast<int>(k);
      }
    }
    if (best < 0) {
      elements_.push_back(0);
      busy_.push_back(false);
      own_.push_back(own);
      best = static_cast<int>(busy_.size()) - 1;
    }
    auto& size = elements_[static_cast<size_t>(best)];
    size = std::max(size, elements);
    busy_[static_cast<size_t>(best)] = true;
    return best;
  }
  void Release(int slot) { busy_[static_cast<size_t>(slot)] = false; }
  bool Own(int slot) const { return own_[static_cast<size_t>(slot)]; }

 private:
  std::vector<int64_t>& elements_;
  std::vector<bool> busy_;
  std::vector<bool> own_;
};

}  // namespace

void FoldPads(Plan* plan) {
  const ValueUses uses = FindUses(*plan);
  std::vector<bool> folded(plan->steps.size(), false);
  for (size_t k = 0; k < plan->steps.size(); ++k) {
    const Step& pad = plan->steps[k];
    const auto* pad_op = std::get_if<PadStep>(&pad.op);
    const int v = pad_op != nullptr ? pad.in[0] : -1;
    if (v < 0 || plan->Root(v) != v || uses.shared[static_cast<size_t>(v)] ||
        uses.producer[static_cast<size_t>(v)] < 0) {
      continue;
    }
    const auto& readers = uses.readers[static_cast<size_t>(v)];
    bool others_ok = true;
    for (const auto& [r, pos] : readers) {
      if (r != k && !ReadsFramed(*plan, r, pos, v)) others_ok = false;
    }
    if (!others_ok) continue;
    Step& q = plan->steps[static_cast<size_t>(uses.producer[static_cast<size_t>(v)])];
    OutputFrame* q_frame = std::visit(WritableFrame(), q.op);
    if (q_frame == nullptr) continue;
    *q_frame = pad_op->frame;
    for (const auto& [r, pos] : readers) {
      if (r != k) ReadFromFrame(pad, pad_op->frame, pos, &plan->steps[r]);
    }
    q.out = pad.out;
    absl::StrAppend(&q.label, ", into the ", pad.label);
    folded[k] = true;
  }
  std::vector<Step> kept;
  for (size_t k = 0; k < plan->steps.size(); ++k) {
    if (!folded[k]) kept.push_back(std::move(plan->steps[k]));
  }
  plan->steps = std::move(kept);
}

void FoldConcats(Plan* plan) {
  const ValueUses uses = FindUses(*plan);
  std::vector<bool> emptied(plan->steps.size(), false);
  for (size_t k = 0; k < plan->steps.size(); ++k) {
    Step& st = plan->steps[k];
    auto* cat = std::get_if<ConcatStep>(&st.op);
    if (cat == nullptr || !cat->nhwc) continue;
    for (size_t p = st.in.size(); p-- > 0;) {
      const int v = st.in[p];
      const size_t id = static_cast<size_t>(v);
      if (plan->Root(v) != v || uses.shared[id] || uses.producer[id] < 0 ||
          uses.readers[id].size() != 1) {
        continue;
      }
      Step& q = plan->steps[static_cast<size_t>(uses.producer[id])];
      // (A concatenation's own writers already point into its buffer: it is not moved.)
      if (std::holds_alternative<ConcatStep>(q.op)) continue;
      OutputFrame* frame = std::visit(WritableFrame(), q.op);
      if (frame == nullptr || !frame->IsPlain()) continue;
      *frame = cat->frame.Slice(cat->offsets[p], cat->total);
      q.out = st.out;
      absl::StrAppend(&q.label, ", into channels [", cat->offsets[p], ", ",
                      cat->offsets[p] + cat->channels[p], ") of the concatenation");
      st.in.erase(st.in.begin() + static_cast<std::ptrdiff_t>(p));
      cat->channels.erase(cat->channels.begin() + static_cast<std::ptrdiff_t>(p));
      cat->offsets.erase(cat->offsets.begin() + static_cast<std::ptrdiff_t>(p));
    }
    emptied[k] = st.in.empty();
  }
  std::vector<Step> kept;
  for (size_t k = 0; k < plan->steps.size(); ++k) {
    if (!emptied[k]) kept.push_back(std::move(plan->steps[k]));
  }
  plan->steps = std::move(kept);
}

void FormImageBlocks(const ImageBlockLimits& limits, Plan* plan) {
  const size_t num_steps = plan->steps.size();
  std::vector<BlockRole> roles(num_steps);
  for (size_t k = 0; k < num_steps; ++k) roles[k] = std::visit(BlockRoleOf(), plan->steps[k].op);
  plan->block_end.resize(num_steps);
  plan->block_images.assign(num_steps, 0);
  for (size_t k = 0; k < num_steps;) {
    int64_t per_image = 0;
    const size_t end = BlockEnd(*plan, roles, k, limits.max_image_bytes, &per_image);
    // A block pays when a convolution's output stays in cache for the next step: it needs a
    // convolution that is not its last step. (Otherwise the block starts at a later step.)
    bool has_conv = false;
    for (size_t j = k; j + 1 < end; ++j) has_conv = has_conv || roles[j] == BlockRole::kAnchor;
    if (!has_conv) {
      plan->block_end[k] = k + 1;
      ++k;
      continue;
    }
    plan->block_end[k] = end;
    if (end > k + 1) {
      const int64_t images = std::max<int64_t>(
          1, limits.group_bytes / (per_image * static_cast<int64_t>(sizeof(float))));
      plan->block_images[k] = images;
      PlaceBlockValues(k, end, images, plan);
    }
    for (size_t j = k + 1; j < end; ++j) plan->block_end[j] = j + 1;
    k = end;
  }
}

void AssignSlots(Plan* plan) {
  const int num_values = static_cast<int>(plan->values.size());
  auto scratch = [&](int v) { return plan->value(v).group_offset >= 0; };
  // A value's slot is free after the step that reads it last (the output's: never).
  std::vector<int> last_use(static_cast<size_t>(num_values), -1);
  for (size_t s = 0; s < plan->steps.size(); ++s) {
    for (int v : plan->steps[s].in) {
      last_use[static_cast<size_t>(plan->Root(v))] = static_cast<int>(s);
    }
  }
  last_use[static_cast<size_t>(plan->Root(plan->output_value))] =
      static_cast<int>(plan->steps.size());
  auto dies_at = [&](int r, size_t s) {
    return r != plan->input_value && !scratch(r) &&
           last_use[static_cast<size_t>(r)] == static_cast<int>(s);
  };
  Slots slots(&plan->slot_elements);
  for (size_t s = 0; s < plan->steps.size(); ++s) {
    const Step& step = plan->steps[s];
    Value& out = plan->value(step.out);
    if (scratch(step.out)) {  // Takes no slot; frees the slots of inputs read for the last time.
      for (int v : step.in) {
        if (dies_at(plan->Root(v), s)) slots.Release(plan->value(plan->Root(v)).slot);
      }
      continue;
    }
    if (out.slot >= 0) {  // A concatenation's later writer (FoldConcats): its buffer is taken.
      for (int v : step.in) {
        const int r = plan->Root(v);
        if (dies_at(r, s) && plan->value(r).slot != out.slot) slots.Release(plan->value(r).slot);
      }
      continue;
    }
    const int first = plan->Root(step.in[0]);
    if (std::visit(WritesInPlace(), step.op) && dies_at(first, s) &&
        !slots.Own(plan->value(first).slot)) {
      out.slot = plan->value(first).slot;
      last_use[static_cast<size_t>(first)] = -1;  // Handed over.
    } else {
      out.slot = slots.Acquire(out.Elements(), out.own_slot);
    }
    for (int v : step.in) {
      const int r = plan->Root(v);
      if (dies_at(r, s) && plan->value(r).slot != out.slot) slots.Release(plan->value(r).slot);
    }
  }
  // Aliases (reshapes, one-channel layout changes) share their source's buffer.
  for (int v = 0; v < num_values; ++v) {
    if (plan->value(v).alias_of >= 0) {
      plan->value(v).slot = plan->value(plan->Root(v)).slot;
      plan->value(v).group_offset = plan->value(plan->Root(v)).group_offset;
    }
  }
}

void SizeShareScratch(Isa isa, Plan* plan) {
  int64_t floats = 0;
  for (const Step& st : plan->steps) {
    if (const auto* pool = std::get_if<PlanarPoolStep>(&st.op); pool && pool->writes_shifts) {
      floats = std::max(floats, pool->pool.out_h * pool->pool.out_w);
    } else if (const auto* lrn = std::get_if<LrnStep>(&st.op)) {
      floats = std::max(floats, LrnScratchFloats(lrn->lrn, lrn->c));
    } else if (const auto* conv = std::get_if<ConvStep>(&st.op); conv && !conv->winograd.empty()) {
      floats = std::max(floats, WinogradScratchFloats(conv->winograd, isa));
    } else if (conv != nullptr) {
      floats = std::max(floats, FeaturePoolScratchFloats(conv->task, conv->weights));
    } else if (const auto* dense = std::get_if<DenseStep>(&st.op)) {
      floats = std::max({floats, FeaturePoolScratchFloats(dense->task, dense->weights),
                         FeaturePoolScratchFloats(dense->task, dense->weights_small)});
    }
  }
  plan->share_scratch_floats = floats;
}

}  // namespace fast
}  // namespace theano_serving
