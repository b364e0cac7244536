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
//     the same up to float rounding.
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
    kConv,     // cross-correlation, then + bias, + sum input, act (in that order)
    kPool,     // then act
    kDense,    // x · weightsᵀ + bias, then act
    kBiasAct,  // + bias per channel, then act (a bias that could not be folded)
    kAct,      // act only
    kAdd,      // inputs[0] + inputs[1], then act
    kSoftmax,  // over axis 1 of a 2-D value
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
  Act act = Act::kNone;
};

struct PeerNet {
  Shape item_shape;
  std::vector<PeerOp> ops;  // in execution order; the last op's value is the output
};

struct LowerOptions {
  // Move a bias_add that follows a max pool of a conv into the conv (max(x) + b == max(x + b)
  // exactly, float addition being monotonic). The im2col peer keeps Theano's graph order.
  bool hoist_bias_over_max_pool = true;
  // Fold bias_add, relu/tanh and add into the producer (oneDNN post-ops, OpenCV's own fusion).
  bool fuse = true;
};

// Lowers `model`. Unimplemented for an op or attribute the peers are not given here (num_groups
// > 1, pool mode sum, relu alpha ≠ 0, ...), naming the layer.
absl::StatusOr<PeerNet> Lower(const BenchModel& model, const LowerOptions& options);

// Index of the last op reading each value (value -1, the graph input, at position 0); -1 if none.
std::vector<int> LastUses(const PeerNet& net);

const char* ActName(Act act);

}  // namespace theano_serving::bench

#endif  // THEANO_SERVING_BENCH_PEER_NET_H_
