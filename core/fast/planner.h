// The planner: lowers a Graph<float> layer by layer into plan steps (plan.h). Each layer describes
// itself (Layer::Lower, core/lowering.h); the planner emits the steps of its LoweredKind (one
// PlanX per kind, planner.cc), choosing layouts (NHWC, planar, plain) and inserting layout
// changes, and decides which following layers a step absorbs (fusion.cc): a bias_add and an
// activation into a conv or dense epilogue, a bias moved in front of a max pool, a residual sum
// into the conv that completes it. The passes (passes.h) then rewrite the step list.
#ifndef THEANO_SERVING_CORE_FAST_PLANNER_H_
#define THEANO_SERVING_CORE_FAST_PLANNER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/cpu.h"
#include "core/fast/fast_graph.h"
#include "core/fast/plan.h"
#include "core/graph.h"
#include "core/lowering.h"

namespace theano_serving {
namespace fast {

class Planner {
 public:
  // `summaries` are graph.Describe()'s for a batch of one; `options.isa` must be set.
  Planner(const Graph<float>& graph, const std::vector<LayerSummary>& summaries,
          const Shape& input_shape, const FastOptions& options, Plan* plan);

  // Emits every layer's steps into the plan, the output converted to plain layout. The steps are
  // in graph order; values are not yet assigned buffers (passes.h).
  absl::Status EmitSteps();

 private:
  // ---- One per LoweredKind (planner.cc). Each sets node_value_[i] to the value holding layer
  // i's output.
  absl::Status PlanNode(size_t i);
  absl::Status PlanConv(size_t i, const Lowering<float>& l);
  absl::Status PlanPlanarConv(size_t i, const Lowering<float>& l, const float* bias, Activation act,
                              const std::string& fused);
  absl::Status PlanDense(size_t i, const Lowering<float>& l);
  absl::Status PlanPool(size_t i, const Lowering<float>& l);
  // A per-channel bias (kBiasAdd) or, with `multiply`, scale (kScale) of C `values` along `axis`.
  absl::Status PlanChannelOp(size_t i, int64_t axis, const float* values, bool multiply);
  absl::Status PlanParamArith(size_t i, const Lowering<float>& l);
  absl::Status PlanElementwise(size_t i, const Lowering<float>& l);
  absl::Status PlanAdd(size_t i);
  absl::Status PlanFlatten(size_t i, const Lowering<float>& l);
  absl::Status PlanBatchNorm(size_t i, const Lowering<float>& l);
  absl::Status PlanLrn(size_t i, const Lowering<float>& l);
  absl::Status PlanConcat(size_t i, const Lowering<float>& l);
  absl::Status PlanReduce(size_t i, const Lowering<float>& l);
  absl::Status PlanSoftmax(size_t i, const Lowering<float>& l);
  absl::Status PlanReshape(size_t i);
  absl::Status PlanDimshuffle(size_t i, const Lowering<float>& l);
  absl::Status PlanSlice(size_t i, const Lowering<float>& l);
  absl::Status PlanPad(size_t i, const Lowering<float>& l);
  absl::Status PlanAxisReduce(size_t i, const Lowering<float>& l);
  absl::Status PlanReference(size_t i);

  // Pieces of PlanConv: the zero-bordered copy of input x a conv needs (x itself without
  // padding; *padded_h / *padded_w are the buffer's size), and the NHWC conv step.
  int PadForConv(const ConvGeometry& g, int x, int64_t* padded_h, int64_t* padded_w);
  ConvStep MakeConvStep(const Lowering<float>& l, const float* bias,
                        const BatchNormParams<float>* norm, int64_t padded_h, int64_t padded_w,
                        Activation act);
  // Whether a conv runs planar (FastOptions::planar_conv; kAuto: PreferPlanar, and only when its
  // input is planar (NCHW) already).
  bool RunsPlanar(const ConvGeometry& g, bool input_planar) const;
  // Whether an NHWC conv runs as Winograd F(2x2, 3x3) (FastOptions::winograd; kAuto:
  // PreferWinograd).
  bool RunsWinograd(const ConvGeometry& g) const;

  // ---- Values and layouts (planner.cc).
  int AddValue(Value v);
  const Value& V(int id) const { return plan_.value(id); }
  // A value of v's shape and layout (not its buffer: a step's new output).
  Value Like(int v) const;
  // Appends a step writing a new value `out`; returns the value's id.
  int Emit(std::string label, std::vector<int> in, StepOp op, Value out);
  // Value v in plain (C-order) or NHWC layout: v itself, or a conversion (cached per value).
  int Plain(int v);
  int Nhwc(int v);
  // The value holding node `node`'s output (the graph input for node < 0).
  int NodeValue(int node) const;
  const Shape& InputShape(int node_input) const;

  // ---- Fusion: which following layers a step absorbs (fusion.cc).
  // The only layer reading node i's output, or -1 (none, several, or i is the graph output).
  int SingleConsumer(size_t i) const;
  Lowering<float> LowerNode(size_t i) const;
  // If node i's only consumer is a fusable activation, absorbs it into node `into`; returns it
  // (kOther: none).
  Activation FuseActivation(size_t i, size_t into);
  // If node i's only consumer adds a per-channel bias of `channels` along axis 1, returns it.
  int BiasConsumer(size_t i, int64_t channels) const;
  // The bias a conv's epilogue adds (nullptr: none) from a bias_add after conv i, or after a max
  // pool that follows it; sets *end to the last node absorbed, *pool_node to that pool (or -1),
  // and appends to *fused.
  const float* FuseConvBias(size_t i, int64_t channels, size_t* end, int* pool_node,
                            std::string* fused);
  // If node *end's only consumer is a batch_norm_inv_std of `channels` channels along axis 1 of a
  // 4-D value, absorbs it into node `into`, sets *end to it, appends to *fused and returns its
  // parameters (for the conv's epilogue: bias, then the batch norm, as the reference's two ops).
  std::optional<BatchNormParams<float>> FuseBatchNorm(size_t* end, size_t into, int64_t channels,
                                                      std::string* fused);
  // If node `end` (conv i, or the bias_add absorbed into it) feeds only a sum of two images of
  // the same shape whose other term is computed already, absorbs the sum (and an activation
  // after it) into conv i and returns the other term's NHWC value: the conv's epilogue adds it
  // after the bias (exact: a two-term sum is the same either way round). -1 if not.
  int FuseResidual(size_t i, size_t end, Activation* act, std::string* fused);
  // If x, the output of reshape i's input node read by reshape i alone, is what the last step
  // (an NHWC conv not run as Winograd, or a dense layer) writes, and that step's epilogue can
  // pool its channels in groups of p (CanFeaturePool), makes it end with `reduce` over them:
  // returns the step (x is then the pooled value), else nullptr.
  Step* FuseFeaturePool(size_t i, int x, int64_t p, const ReduceParams& reduce);
  void Absorb(size_t node, size_t into);
  std::string Label(size_t node) const;

  const Graph<float>& graph_;
  const FastOptions& options_;
  const Isa isa_;
  Plan& plan_;
  std::vector<Shape> shapes_;        // Per node, batch 1.
  std::vector<int> node_value_;      // Per node: the value holding its output.
  std::vector<int> alias_;           // Per node: the node whose value it shares (fused), or -1.
  std::vector<bool> absorbed_;       // Fused into an earlier step.
  std::vector<int> consumers_;       // Per node: how many inputs read it (+1 for the output).
  std::map<size_t, int> pool_bias_;  // Pool node -> the bias_add moved before it.
  std::map<int, int> plain_of_, nhwc_of_;
};

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_PLANNER_H_
