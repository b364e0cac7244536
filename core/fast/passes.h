// The passes FastGraph::Compile runs over the planner's steps, in this order. Each takes the plan
// as the previous one left it and keeps every value's contents what it was: they change where
// values live and which steps run together, never what is computed.
#ifndef THEANO_SERVING_CORE_FAST_PASSES_H_
#define THEANO_SERVING_CORE_FAST_PASSES_H_

#include <cstdint>

#include "core/fast/plan.h"

namespace theano_serving {
namespace fast {

// Pad folding. A pad step whose input is written by an NHWC conv, an NHWC pool or an NCHW -> NHWC
// conversion goes: that step writes straight into the pad's zero-bordered buffer (its frame)
// instead. The value may have other readers if each is an NHWC conv reading it unpadded or as its
// residual: they read it inside the frame (ResNet's block outputs feed the next block's padded
// conv, its residual sum and its projection). Before: the planner's steps. After: fewer steps,
// the folded producers' outputs are the pads' buffers (own_slot values).
void FoldPads(Plan* plan);

// Concatenations in place. An NHWC concatenation's input whose producer can write a frame
// (plainly, for now) and that nothing else reads is written by that producer straight into its
// channel slice of the concatenation (OutputFrame::Slice); the concat step copies only the inputs
// left (and goes when none is). Before: FoldPads done (a concatenation folded into a pad keeps
// its frame, and its producers write into the padded buffer). After: a concatenation's value may
// be written by several steps; the first of them starts its life.
void FoldConcats(Plan* plan);

struct ImageBlockLimits {
  int64_t group_bytes = 0;      // FastOptions::image_block_bytes.
  int64_t max_image_bytes = 0;  // FastOptions::image_block_max_bytes.
};
// Image blocks. Cuts the steps into blocks: runs of consecutive per-image steps that contain a
// conv (NHWC with weights under 256 KiB, or planar) and a step after it, whose values take at most
// limits.max_image_bytes per image; they run group of images by group, a group writing at most
// limits.group_bytes, so that a conv's output is still in cache when the next step reads it.
// Values written and read only inside a block move to the per-thread group scratch
// (Value::group_offset); those read after it get buffers of their own (own_slot). Before: final
// steps (FoldPads done). After: plan->block_end, block_images and group_scratch_floats set.
void FormImageBlocks(const ImageBlockLimits& limits, Plan* plan);

// Buffer assignment. Gives every value outside the group scratch a workspace slot: values whose
// lives do not overlap share one (the closest in size), a step that works in place writes over
// its first input when that input dies there, own_slot values never share, and aliases take
// their root's slot. Before: FormImageBlocks done. After: Value::slot set, plan->slot_elements
// the slots' sizes per item.
void AssignSlots(Plan* plan);

// Sets plan->share_scratch_floats: the most any step's share of a parallel call takes of
// KernelEnv::scratch for instruction set `isa` (a planar pool writing shifted copies: one output
// plane; LRN: its squares and scales; a Winograd conv: WinogradScratchFloats; a conv or dense
// layer ending in a feature pool: FeaturePoolScratchFloats). Before: the steps
// final (FoldPads, FoldConcats done).
void SizeShareScratch(Isa isa, Plan* plan);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_PASSES_H_
