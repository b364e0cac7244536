// The planner's fusion decisions: which layers after a step it absorbs, so that they cost nothing
// of their own. Each absorbed layer is marked (Absorb) and skipped by EmitSteps; its output is the
// absorbing step's.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/fast/planner.h"

namespace theano_serving {
namespace fast {

int Planner::SingleConsumer(size_t i) const {
  if (consumers_[i] != 1 || i + 1 == graph_.num_layers()) return -1;
  for (size_t k = i + 1; k < graph_.num_layers(); ++k) {
    for (int j : graph_.layer_inputs(k)) {
      if (j == static_cast<int>(i)) return static_cast<int>(k);
    }
  }
  return -1;
}

Lowering<float> Planner::LowerNode(size_t i) const {
  std::vector<Shape> in;
  for (int j : graph_.layer_inputs(i)) in.push_back(InputShape(j));
  return graph_.layer(i).Lower(in);
}

Step* Planner::FuseFeaturePool(size_t i, int x, int64_t p, const ReduceParams& reduce) {
  const int input = graph_.layer_inputs(i)[0];
  if (input < 0 || consumers_[static_cast<size_t>(input)] != 1 || plan_.steps.empty() ||
      plan_.steps.back().out != x) {
    return nullptr;
  }
  Step& producer = plan_.steps.back();
  ConvTask* task = nullptr;
  if (auto* conv = std::get_if<ConvStep>(&producer.op);
      conv != nullptr && conv->winograd.empty() && CanFeaturePool(conv->weights, p)) {
    task = &conv->task;
  } else if (auto* dense = std::get_if<DenseStep>(&producer.op);
             dense != nullptr && CanFeaturePool(dense->weights, p) &&
             CanFeaturePool(dense->weights_small, p)) {
    task = &dense->task;
  }
  if (task == nullptr) return nullptr;
  task->feature_pool = p;
  task->feature_pool_reduce = reduce;
  return &producer;
}

void Planner::Absorb(size_t node, size_t into) {
  absorbed_[node] = true;
  alias_[node] = static_cast<int>(into);
}

std::string Planner::Label(size_t node) const { return graph_.layer(node).spec().Describe(); }

Activation Planner::FuseActivation(size_t i, size_t into) {
  const int a = SingleConsumer(i);
  if (a < 0) return Activation::kOther;
  const Lowering<float> l = LowerNode(static_cast<size_t>(a));
  if (l.kind != LoweredKind::kElementwise || l.activation == Activation::kOther) {
    return Activation::kOther;
  }
  Absorb(static_cast<size_t>(a), into);
  return l.activation;
}

int Planner::BiasConsumer(size_t i, int64_t channels) const {
  const int j = SingleConsumer(i);
  if (j < 0) return -1;
  const Lowering<float> l = LowerNode(static_cast<size_t>(j));
  if (l.kind != LoweredKind::kBiasAdd || l.axis != 1 || l.bias->size() != channels) return -1;
  return j;
}

// A bias after a max pool moves in front of it: max(a_k) + b == max(a_k + b) exactly (rounding is
// monotonic), so LeNet's conv -> pool -> bias -> tanh runs as conv + bias, then pool + tanh.
const float* Planner::FuseConvBias(size_t i, int64_t channels, size_t* end, int* pool_node,
                                   std::string* fused) {
  if (int j = BiasConsumer(i, channels); j >= 0) {
    const float* bias = LowerNode(static_cast<size_t>(j)).bias->data();
    Absorb(static_cast<size_t>(j), i);
    *end = static_cast<size_t>(j);
    *fused = " + bias";
    return bias;
  }
  const int p = SingleConsumer(i);
  if (p < 0) return nullptr;
  const Lowering<float> pl = LowerNode(static_cast<size_t>(p));
  if (pl.kind != LoweredKind::kPool || pl.pool.mode != PoolMode::kMax) return nullptr;
  const int k = BiasConsumer(static_cast<size_t>(p), channels);
  if (k < 0) return nullptr;
  const float* bias = LowerNode(static_cast<size_t>(k)).bias->data();
  Absorb(static_cast<size_t>(k), static_cast<size_t>(p));
  pool_bias_[static_cast<size_t>(p)] = k;
  *pool_node = p;
  *fused = " + bias (moved before the max pool)";
  return bias;
}

std::optional<BatchNormParams<float>> Planner::FuseBatchNorm(size_t* end, size_t into,
                                                             int64_t channels, std::string* fused) {
  const int j = SingleConsumer(*end);
  if (j < 0 || shapes_[*end].size() != 4) return std::nullopt;
  const Lowering<float> l = LowerNode(static_cast<size_t>(j));
  if (shapes_[*end][1] != channels) return std::nullopt;
  if (l.kind == LoweredKind::kBatchNorm) {
    Absorb(static_cast<size_t>(j), into);
    *end = static_cast<size_t>(j);
    absl::StrAppend(fused, " + batch norm");
    return l.norm;
  }
  if (l.kind != LoweredKind::kScale || l.axis != 1) return std::nullopt;
  // A scale (then a per-channel bias) is the batch norm fma((r - 0) * scale, 1, bias or 0): r - 0
  // and the product times 1 are exact, so it rounds as the reference's r * scale (+ bias), once
  // each (only a product of -0 comes out +0).
  Absorb(static_cast<size_t>(j), into);
  *end = static_cast<size_t>(j);
  absl::StrAppend(fused, " + scale");
  std::vector<float> zeros(static_cast<size_t>(channels), 0.0f), beta = zeros;
  if (const int k = BiasConsumer(*end, channels); k >= 0) {
    const float* bias = LowerNode(static_cast<size_t>(k)).bias->data();
    beta.assign(bias, bias + channels);
    Absorb(static_cast<size_t>(k), into);
    *end = static_cast<size_t>(k);
    absl::StrAppend(fused, " + bias");
  }
  absl::StrAppend(fused, " (as a batch norm)");
  BatchNormParams<float> norm;
  norm.gamma = l.scale->data();
  plan_.constants.push_back(zeros);
  norm.mean = plan_.constants.back().data();
  plan_.constants.push_back(std::vector<float>(static_cast<size_t>(channels), 1.0f));
  norm.inv_std = plan_.constants.back().data();
  plan_.constants.push_back(std::move(beta));
  norm.beta = plan_.constants.back().data();
  return norm;
}

// Decided while planning the conv, not as a later pass over the steps: the other term's layout
// change must be planned before the conv that reads it.
int Planner::FuseResidual(size_t i, size_t end, Activation* act, std::string* fused) {
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

}  // namespace fast
}  // namespace theano_serving
