// PeerNet: a BenchModel lowered to the plain operations every peer engine (oneDNN, OpenCV DNN,
// im2col + BLAS) offers — cross-correlation convolutions with explicit padding, pooling, inner
// products, activations — so that each peer is built from the same weights and the Theano rules
// are translated once, here:
//   * conv2d filter_flip=true (a true convolution) → filters rotated 180° once, border_mode →
//     explicit (top, bottom, left, right) padding, filter_dilation kept;
//   * pool_2d ignore_border=True → symmetric padding; ignore_border=False → extra padding at the
//     end so the partial windows Theano keeps exist (padding never counts in max or the average
//     divisor there, which is exclude-padding semantics);
//   * dense W (n_in, n_out) → (n_out, n_in), flatten → nothing (NCHW data is already flat);
//   * bias_add / relu / tanh / add folded into the producing conv or dense where the result is
//     the same up to float rounding;
//   * batch_norm_inv_std (Lasagne: (x − mean) · gamma · inv_std + beta) → one scale and shift per
//     channel, folded into the preceding conv's filters and bias (what oneDNN and OpenCV users
//     do; LowerOptions::fold_batch_norm) or applied in that conv's epilogue (Theano's fused
//     Elemwise after CorrMM, for the im2col peer), else an op of its own;
//   * local_response_normalization → kLrn with Lasagne's parameters: alpha is NOT divided by n
//     (oneDNN and Caffe-style LRNs divide theirs: each engine converts);
//   * concatenate (axis 1) → kConcat; flatten(ndim 3) + mean(axis 2) (Lasagne's GlobalPoolLayer)
//     and mean over axes (2, 3) → a kPool averaging the whole map.
#ifndef THEANO_SERVING_BENCH_PEER_NET_H_
#define THEANO_SERVING_BENCH_PEER_NET_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/models.h"
#include "core/tensor.h"

namespace theano_serving::bench {

enum class Act { kNone, kRelu, kTanh };

struct PeerOp {
  enum class Kind {
    kConv,       // cross-correlation, then + bias, · bn_scale + bn_shift, + sum input, act
    kPool,       // then act
    kDense,      // x · weightsᵀ + bias, then act
    kBiasAct,    // + bias per channel, then act (a bias that could not be folded)
    kAct,        // act only
    kAdd,        // inputs[0] + inputs[1], then act
    kSoftmax,    // over axis 1
    kBatchNorm,  // x · bn_scale + bn_shift per channel (axis 1), then act
    kLrn,        // Lasagne's LRN across channels (lrn_* below)
    kConcat,     // inputs concatenated along the channel axis (axis 1)
  };
  enum class PoolMode { kMax, kAverageExcPad, kAverageIncPad };

  Kind kind = Kind::kAct;
  std::string name;            // for messages and peer layer names
  std::vector<int> inputs;     // value ids: -1 = the graph input, else an earlier op's index
  Shape in_shape;              // per image, of inputs[0] (C, H, W) or (K)
  Shape out_shape;             // per image
  std::vector<float> weights;  // conv: (O, C, kh, kw) cross-correlation; dense: (n_out, n_in)
  std::vector<float> bias;     // empty = none
  std::array<int64_t, 2> kernel = {1, 1};
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> dilation = {1, 1};
  std::array<int64_t, 2> pad_lo = {0, 0};  // (top, left)
  std::array<int64_t, 2> pad_hi = {0, 0};  // (bottom, right)
  PoolMode pool_mode = PoolMode::kMax;
  std::optional<int> sum_input;  // conv: value id added after the bias, before act
  // Batch norm as a per-channel affine map: scale = gamma · inv_std, shift = beta − mean · scale.
  // kBatchNorm; kConv when lowered with fold_batch_norm = false (else empty).
  std::vector<float> bn_scale, bn_shift;
  // kLrn, Lasagne's formula: x / (k + alpha · Σ x² over the n channels centred on x)^beta, the
  // channels beyond the edges counting as 0.
  double lrn_alpha = 1e-4, lrn_k = 2, lrn_beta = 0.75;
  int64_t lrn_n = 5;
  Act act = Act::kNone;
};

struct PeerNet {
  Shape item_shape;
  Shape out_shape;          // per image, the graph output's (the last op may hold it as (K, 1, 1))
  std::vector<PeerOp> ops;  // in execution order; the last op's value is the output
};

struct LowerOptions {
  // Move a bias_add that follows a max pool of a conv into the conv (max(x) + b == max(x + b)
  // exactly, float addition being monotonic). The im2col peer keeps Theano's graph order.
  bool hoist_bias_over_max_pool = true;
  // Fold bias_add, relu/tanh and add into the producer (oneDNN post-ops, OpenCV's own fusion).
  bool fuse = true;
  // A batch norm right after a conv (its only reader) changes the conv's filters and bias: W' =
  // W · s, b' = (b − mean) · s + beta with s = gamma · inv_std, in double. false: it stays in the
  // conv's epilogue as bn_scale / bn_shift (Theano computes the bias, the batch norm and the
  // relu in one fused Elemwise after CorrMM). Only with `fuse`.
  bool fold_batch_norm = true;
};

// Lowers `model`. Unimplemented for an op or attribute the peers are not given here (num_groups
// > 1, pool mode sum, relu alpha ≠ 0, ...), naming the layer.
absl::StatusOr<PeerNet> Lower(const BenchModel& model, const LowerOptions& options);

// Index of the last op reading each value (value -1, the graph input, at position 0); -1 if none.
std::vector<int> LastUses(const PeerNet& net);

// How many ops read each value (value -1 at position 0); a conv's sum_input counts as a read.
std::vector<int> ReaderCounts(const PeerNet& net);

// The per-image shape of value v (-1: the graph input).
const Shape& ValueShape(const PeerNet& net, int v);

const char* ActName(Act act);

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_PEER_NET_H_
