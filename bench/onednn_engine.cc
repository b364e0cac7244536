// oneDNN 2.6 called directly, as its own examples do it: every primitive created once with
// format_tag::any so the library picks its layouts (nhwc for its AVX-512 brgconv, nChw8c for its
// AVX2 convs here), weights reordered into the chosen layout once, bias / activation / residual
// add fused as post-ops, batch norm folded into the conv before it (PeerNet lowering), one
// reorder from the user's NCHW input and one into the user's output. LRN is oneDNN's
// lrn_across_channels on whatever layout it has a JIT kernel for; a concat of convs or pools on
// one image whose layout keeps each input's channels contiguous (nchw, nChw8c, nChw16c) is done
// in place — the producers write into the concat buffer, as inference engines built on oneDNN
// do — and by the concat primitive otherwise. Run() executes the primitives and waits.
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/engines.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace theano_serving::bench {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

dnnl::algorithm EltwiseAlgorithm(Act act) {
  return act == Act::kRelu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_tanh;
}

memory::desc Any(const Dims& dims) { return memory::desc(dims, kF32, Tag::any); }

// A reference (unoptimised) implementation: "ref:any", "lrn_ref:any", ...
bool IsRef(const char* impl) { return std::string(impl).find("ref") != std::string::npos; }

// Plain row-major layout of any rank up to 4 (abcd = nchw / oihw).
memory::desc Plain(const Dims& dims) {
  static const Tag kTags[] = {Tag::a, Tag::a, Tag::ab, Tag::abc, Tag::abcd};
  return memory::desc(dims, kF32, kTags[dims.size()]);
}

class OneDnnEngine : public Engine {
 public:
  OneDnnEngine(int64_t batch, OneDnnConvAlgo conv_algo)
      : engine_(dnnl::engine::kind::cpu, 0),
        stream_(engine_),
        batch_(batch),
        conv_algo_(conv_algo) {}

  // "oneDNN 2.6.3" (convolution_auto, oneDNN's own choice) or "oneDNN 2.6.3 winograd".
  std::string name() const override {
    const dnnl_version_t* v = dnnl_version();
    return absl::StrCat("oneDNN ", v->major, ".", v->minor, ".", v->patch,
                        conv_algo_ == OneDnnConvAlgo::kWinograd ? " winograd" : "");
  }
  std::string notes() const override { return notes_; }

  // Creates every primitive. Throws dnnl::error when oneDNN refuses a descriptor.
  absl::Status Build(const PeerNet& net) {
    item_shape_ = net.item_shape;
    const std::vector<int> last_use = LastUses(net);
    user_in_ = memory(Plain(BatchDims(net.item_shape)), engine_, nullptr);
    values_.assign(net.ops.size() + 1, memory());
    values_[0] = user_in_;
    for (size_t i = 0; i < net.ops.size(); ++i) {
      const PeerOp& op = net.ops[i];
      switch (op.kind) {
        case PeerOp::Kind::kConv:
          AddConv(op, static_cast<int>(i), last_use);
          break;
        case PeerOp::Kind::kPool:
          AddPool(op);
          break;
        case PeerOp::Kind::kDense:
          AddDense(op);
          break;
        case PeerOp::Kind::kBiasAct:
        case PeerOp::Kind::kAdd:
          AddBinary(op);
          break;
        case PeerOp::Kind::kAct: {
          memory src = Value(op.inputs[0]);
          AddEltwise(op.act, src, memory(src.get_desc(), engine_));
          break;
        }
        case PeerOp::Kind::kSoftmax:
          AddSoftmax(op);
          break;
        case PeerOp::Kind::kBatchNorm:
          AddBatchNorm(op);
          break;
        case PeerOp::Kind::kLrn:
          AddLrn(op);
          break;
        case PeerOp::Kind::kConcat:
          AddConcat(net, op);
          break;
      }
      values_[i + 1] = current_;
    }
    out_shape_ = {batch_};
    out_shape_.insert(out_shape_.end(), net.out_shape.begin(), net.out_shape.end());
    // The last value may hold the output with trailing 1s ((N, K, 1, 1) of a 1x1 conv): its own
    // dims, plain, are the same bytes as the user's (N, K).
    memory last = values_[net.ops.size()];
    user_out_ = memory(Plain(last.get_desc().dims()), engine_, nullptr);
    steps_.push_back(
        {dnnl::reorder(last, user_out_), {{DNNL_ARG_FROM, last}, {DNNL_ARG_TO, user_out_}}});
    std::string summary = absl::StrCat(steps_.size(), " primitives");
    if (in_place_sums_ > 0)
      absl::StrAppend(&summary, ", ", in_place_sums_, " in-place residual sums");
    if (in_place_concats_ > 0)
      absl::StrAppend(&summary, ", ", in_place_concats_, " in-place concats");
    if (concat_copies_ > 0) absl::StrAppend(&summary, ", ", concat_copies_, " concat primitives");
    if (reorders_ > 0) absl::StrAppend(&summary, ", ", reorders_, " layout reorders between ops");
    if (wino_fallbacks_ > 0) {
      absl::StrAppend(&summary, ", ", wino_fallbacks_, " convs direct (no Winograd kernel)");
    }
    for (const auto& [impl, count] : impls_) absl::StrAppend(&summary, ", ", count, "x ", impl);
    notes_ = summary + (notes_.empty() ? "" : "; " + notes_);
    return absl::OkStatus();
  }

  absl::Status Run(const Tensor<float>& input, Tensor<float>* output) override {
    Shape want = {batch_};
    want.insert(want.end(), item_shape_.begin(), item_shape_.end());
    if (input.shape() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "oneDNN engine built for ", ShapeToString(want), ", got ", ShapeToString(input.shape())));
    }
    output->Resize(out_shape_);
    user_in_.set_data_handle(const_cast<float*>(input.data()));
    user_out_.set_data_handle(output->data());
    for (Step& step : steps_) step.primitive.execute(stream_, step.args);
    stream_.wait();
    return absl::OkStatus();
  }

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, memory> args;
  };

  Dims BatchDims(const Shape& item) const {
    Dims d = {batch_};
    d.insert(d.end(), item.begin(), item.end());
    return d;
  }

  memory Value(int v) const { return values_[static_cast<size_t>(v + 1)]; }

  // Counts a primitive's implementation for the notes ("brgconv:avx512_core", ...).
  void CountImpl(const std::string& what, const char* impl) { ++impls_[what + " " + impl]; }

  // Value v in layout `want`: the value itself, or a reorder into a new buffer (counted in notes).
  memory Src(int v, const memory::desc& want) {
    memory m = Value(v);
    if (m.get_desc() == want) return m;
    memory converted(want, engine_);
    steps_.push_back({dnnl::reorder(m, converted), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, converted}}});
    if (v >= 0) ++reorders_;
    return converted;
  }

  // A weight or bias buffer in the primitive's chosen layout, filled from plain data.
  memory Weights(const std::vector<float>& data, const Dims& dims, const memory::desc& want) {
    memory user(Plain(dims), engine_, const_cast<float*>(data.data()));
    memory packed(want, engine_);
    dnnl::reorder(user, packed).execute(stream_, user, packed);
    stream_.wait();
    return packed;
  }

  static dnnl::primitive_attr ActAttr(Act act, bool sum) {
    dnnl::post_ops ops;
    if (sum) ops.append_sum(1.0f);
    if (act != Act::kNone) ops.append_eltwise(1.0f, EltwiseAlgorithm(act), 0.0f, 0.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    return attr;
  }

  void AddConv(const PeerOp& op, int index, const std::vector<int>& last_use) {
    if (!op.bn_scale.empty()) {
      throw std::invalid_argument(op.name + ": batch norm not folded (lower with fold_batch_norm)");
    }
    const Dims w_dims = {op.out_shape[0], op.in_shape[0], op.kernel[0], op.kernel[1]};
    const Dims strides = {op.stride[0], op.stride[1]};
    const Dims dilates = {op.dilation[0] - 1, op.dilation[1] - 1};  // oneDNN counts the gaps
    const Dims pad_l = {op.pad_lo[0], op.pad_lo[1]}, pad_r = {op.pad_hi[0], op.pad_hi[1]};
    const memory::desc src = Any(BatchDims(op.in_shape)), dst = Any(BatchDims(op.out_shape));
    const bool has_bias = !op.bias.empty();
    const dnnl::primitive_attr attr = ActAttr(op.act, op.sum_input.has_value());
    auto make_pd = [&](dnnl::algorithm alg) {
      const auto d = has_bias ? dnnl::convolution_forward::desc(
                                    dnnl::prop_kind::forward_inference, alg, src, Any(w_dims),
                                    Plain({op.out_shape[0]}), dst, strides, dilates, pad_l, pad_r)
                              : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                                alg, src, Any(w_dims), dst, strides,
                                                                dilates, pad_l, pad_r);
      return dnnl::convolution_forward::primitive_desc(d, attr, engine_);
    };
    dnnl::convolution_forward::primitive_desc pd;
    switch (conv_algo_) {
      case OneDnnConvAlgo::kAuto:
        pd = make_pd(dnnl::algorithm::convolution_auto);
        break;
      case OneDnnConvAlgo::kWinograd:
        // Winograd where oneDNN implements it for this conv (shape, post-ops, ISA), else direct.
        try {
          pd = make_pd(dnnl::algorithm::convolution_winograd);
        } catch (const dnnl::error&) {
          pd = make_pd(dnnl::algorithm::convolution_direct);
          ++wino_fallbacks_;
        }
        break;
    }
    CountImpl("conv", pd.impl_info_str());
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = Src(op.inputs[0], pd.src_desc());
    args[DNNL_ARG_WEIGHTS] = Weights(op.weights, w_dims, pd.weights_desc());
    if (has_bias) args[DNNL_ARG_BIAS] = Weights(op.bias, {op.out_shape[0]}, pd.bias_desc());
    memory out;
    if (op.sum_input) {
      // The sum post-op accumulates into dst: write in place into the residual when nothing
      // reads it afterwards, else copy it into a fresh buffer first.
      const int s = *op.sum_input;
      memory residual = Value(s);
      if (s >= 0 && last_use[static_cast<size_t>(s + 1)] == index &&
          residual.get_desc() == pd.dst_desc()) {
        out = residual;
        ++in_place_sums_;
      } else {
        out = memory(pd.dst_desc(), engine_);
        steps_.push_back(
            {dnnl::reorder(residual, out), {{DNNL_ARG_FROM, residual}, {DNNL_ARG_TO, out}}});
        absl::StrAppend(&notes_, "residual copy at ", op.name, "; ");
      }
    } else {
      out = memory(pd.dst_desc(), engine_);
    }
    args[DNNL_ARG_DST] = out;
    steps_.push_back({dnnl::convolution_forward(pd), std::move(args)});
    current_ = out;
  }

  void AddPool(const PeerOp& op) {
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (op.pool_mode == PeerOp::PoolMode::kAverageExcPad) {
      alg = dnnl::algorithm::pooling_avg_exclude_padding;
    } else if (op.pool_mode == PeerOp::PoolMode::kAverageIncPad) {
      alg = dnnl::algorithm::pooling_avg_include_padding;
    }
    memory src = Value(op.inputs[0]);
    const dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, src.get_desc(),
                                        Any(BatchDims(op.out_shape)), {op.stride[0], op.stride[1]},
                                        {op.kernel[0], op.kernel[1]}, {op.pad_lo[0], op.pad_lo[1]},
                                        {op.pad_hi[0], op.pad_hi[1]});
    dnnl::pooling_forward::primitive_desc pd;
    bool fused = false;
    if (op.act != Act::kNone) {
      try {
        pd = dnnl::pooling_forward::primitive_desc(d, ActAttr(op.act, false), engine_);
        fused = true;
      } catch (const dnnl::error&) {
        absl::StrAppend(&notes_, "pool+", ActName(op.act), " not fused; ");
      }
    }
    if (!fused) pd = dnnl::pooling_forward::primitive_desc(d, engine_);
    CountImpl("pool", pd.impl_info_str());
    memory dst(pd.dst_desc(), engine_);
    steps_.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
    current_ = dst;
    if (!fused && op.act != Act::kNone) AddEltwise(op.act, dst, dst);  // in place
  }

  void AddDense(const PeerOp& op) {
    Dims w_dims = {op.out_shape[0]};
    w_dims.insert(w_dims.end(), op.in_shape.begin(), op.in_shape.end());
    const Dims b_dims = {op.out_shape[0]};
    // The inner product reads its producer's layout as it is (measured: as fast as the layout
    // format_tag::any picks, minus the reorder); `any` only if oneDNN has no kernel for it.
    auto make_pd = [&](const memory::desc& src) {
      const dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, src,
                                                Any(w_dims), Plain(b_dims),
                                                Any(BatchDims(op.out_shape)));
      return dnnl::inner_product_forward::primitive_desc(d, ActAttr(op.act, false), engine_);
    };
    dnnl::inner_product_forward::primitive_desc pd;
    try {
      pd = make_pd(Value(op.inputs[0]).get_desc());
    } catch (const dnnl::error&) {
      pd = make_pd(Any(BatchDims(op.in_shape)));
    }
    CountImpl("inner_product", pd.impl_info_str());
    memory dst(pd.dst_desc(), engine_);
    steps_.push_back({dnnl::inner_product_forward(pd),
                      {{DNNL_ARG_SRC, Src(op.inputs[0], pd.src_desc())},
                       {DNNL_ARG_WEIGHTS, Weights(op.weights, w_dims, pd.weights_desc())},
                       {DNNL_ARG_BIAS, Weights(op.bias, b_dims, pd.bias_desc())},
                       {DNNL_ARG_DST, dst}}});
    current_ = dst;
  }

  // kAdd: input 0 + input 1; kBiasAct: input 0 + bias broadcast over channels. Then act.
  void AddBinary(const PeerOp& op) {
    memory src0 = Value(op.inputs[0]);
    const memory::desc md = src0.get_desc();
    memory src1;
    if (op.kind == PeerOp::Kind::kAdd) {
      src1 = Src(op.inputs[1], md);
    } else {
      Dims b_dims(static_cast<size_t>(md.dims().size()), 1);
      b_dims[1] = static_cast<int64_t>(op.bias.size());
      src1 = Weights(op.bias, b_dims, Plain(b_dims));
    }
    const dnnl::binary::desc d(dnnl::algorithm::binary_add, md, src1.get_desc(), md);
    dnnl::binary::primitive_desc pd(d, ActAttr(op.act, false), engine_);
    memory dst(md, engine_);
    steps_.push_back(
        {dnnl::binary(pd), {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}}});
    current_ = dst;
  }

  // Softmax over the channels, on the input's layout unless oneDNN has only its reference kernel
  // (or none) for it there (a blocked (N, K, 1, 1)): then on the plain layout.
  void AddSoftmax(const PeerOp& op) {
    memory src = Value(op.inputs[0]);
    auto make = [&](const memory::desc& md) {
      return dnnl::softmax_forward::primitive_desc({dnnl::prop_kind::forward_inference, md, 1},
                                                   engine_);
    };
    dnnl::softmax_forward::primitive_desc pd;
    bool usable = false;
    try {
      pd = make(src.get_desc());
      usable = !IsRef(pd.impl_info_str());
    } catch (const dnnl::error&) {
    }
    if (!usable) {
      src = Src(op.inputs[0], Plain(src.get_desc().dims()));
      pd = make(src.get_desc());
    }
    CountImpl("softmax", pd.impl_info_str());
    memory dst(pd.dst_desc(), engine_);
    steps_.push_back({dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
    current_ = dst;
  }

  // A batch norm that no conv precedes: batch_normalization with global statistics mean 0,
  // variance 1, epsilon 0 and scale / shift = PeerOp's, relu fused (fuse_norm_relu).
  void AddBatchNorm(const PeerOp& op) {
    memory src = Value(op.inputs[0]);
    auto flags =
        dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale_shift;
    if (op.act == Act::kRelu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    dnnl::batch_normalization_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, src.get_desc(), 0.0f, flags}, engine_);
    CountImpl("batch_norm", pd.impl_info_str());
    const size_t c = op.bn_scale.size();
    std::vector<float> scale_shift(op.bn_scale);
    scale_shift.insert(scale_shift.end(), op.bn_shift.begin(), op.bn_shift.end());
    const std::vector<float> zeros(c, 0.0f), ones(c, 1.0f);
    const Dims c_dims = {static_cast<int64_t>(c)};
    memory dst(pd.dst_desc(), engine_);
    steps_.push_back({dnnl::batch_normalization_forward(pd),
                      {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_MEAN, Weights(zeros, c_dims, pd.mean_desc())},
                       {DNNL_ARG_VARIANCE, Weights(ones, c_dims, pd.variance_desc())},
                       {DNNL_ARG_SCALE_SHIFT,
                        Weights(scale_shift, {2, static_cast<int64_t>(c)}, pd.weights_desc())},
                       {DNNL_ARG_DST, dst}}});
    current_ = dst;
    if (op.act == Act::kTanh) AddEltwise(op.act, dst, dst);
  }

  // lrn_across_channels. oneDNN divides alpha by the window (dst = src / (k + alpha / n ·
  // Σ src²)^beta), Lasagne does not: alpha · n. On the input's layout if oneDNN has a JIT kernel
  // for it, else reordered into one that has (AVX2: none for nChw16c).
  void AddLrn(const PeerOp& op) {
    const float alpha = static_cast<float>(op.lrn_alpha * static_cast<double>(op.lrn_n));
    auto make = [&](const memory::desc& md) {
      return dnnl::lrn_forward::primitive_desc(
          {dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, md, op.lrn_n,
           alpha, static_cast<float>(op.lrn_beta), static_cast<float>(op.lrn_k)},
          engine_);
    };
    memory::desc md = Value(op.inputs[0]).get_desc();
    dnnl::lrn_forward::primitive_desc pd = make(md);
    if (IsRef(pd.impl_info_str())) {
      for (Tag tag : {Tag::nhwc, Tag::nChw16c, Tag::nChw8c, Tag::nchw}) {
        const memory::desc other(BatchDims(op.in_shape), kF32, tag);
        dnnl::lrn_forward::primitive_desc candidate = make(other);
        if (!IsRef(candidate.impl_info_str())) {
          md = other;
          pd = candidate;
          break;
        }
      }
    }
    CountImpl("lrn", pd.impl_info_str());
    memory src = Src(op.inputs[0], md);
    memory dst(pd.dst_desc(), engine_);
    steps_.push_back({dnnl::lrn_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
    current_ = dst;
  }

  // Concat along channels. In place when there is one image and every input is a value that
  // only the concat reads, with its own buffer, all in one layout where an image's channels
  // [c0, c0 + c) are one contiguous run of c · H · W floats (nchw; nChw8c / nChw16c with every
  // c a multiple of the block): the concat buffer is allocated and each producer's output memory
  // is re-pointed into it, so the producers write the concatenation and nothing is copied.
  // Otherwise the concat primitive.
  void AddConcat(const PeerNet& net, const PeerOp& op) {
    const std::vector<int> readers = ReaderCounts(net);
    const Shape& first = ValueShape(net, op.inputs[0]);
    const Dims out_dims = BatchDims(op.out_shape);
    static const std::pair<Tag, int64_t> kContiguous[] = {
        {Tag::nchw, 1}, {Tag::nChw8c, 8}, {Tag::nChw16c, 16}};
    bool in_place = batch_ == 1;
    Tag layout = Tag::undef;
    for (int v : op.inputs) {
      if (!in_place) break;
      const Shape& shape = ValueShape(net, v);
      in_place = v >= 0 && readers[static_cast<size_t>(v + 1)] == 1 && shape[1] == first[1] &&
                 shape[2] == first[2];
      if (!in_place) break;
      // Its own buffer: no other value shares it (an in-place residual sum, an in-place concat).
      void* handle = Value(v).get_data_handle();
      for (size_t k = 0; k < values_.size() && in_place; ++k) {
        if (static_cast<int>(k) != v + 1 && values_[k] && values_[k].get_data_handle() == handle) {
          in_place = false;
        }
      }
      Tag found = Tag::undef;
      for (const auto& [tag, block] : kContiguous) {
        if (Value(v).get_desc() == memory::desc(BatchDims(shape), kF32, tag) &&
            shape[0] % block == 0) {
          found = tag;
        }
      }
      if (found == Tag::undef || (layout != Tag::undef && found != layout)) in_place = false;
      layout = found;
    }
    if (in_place) {
      memory dst(memory::desc(out_dims, kF32, layout), engine_);
      float* base = static_cast<float*>(dst.get_data_handle());
      int64_t offset = 0;
      for (int v : op.inputs) {
        const Shape& shape = ValueShape(net, v);
        memory m = Value(v);
        m.set_data_handle(base + offset);
        offset += shape[0] * shape[1] * shape[2];
      }
      ++in_place_concats_;
      current_ = dst;
      return;
    }
    std::vector<memory::desc> srcs;
    std::unordered_map<int, memory> args;
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      memory m = Value(op.inputs[k]);
      srcs.push_back(m.get_desc());
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k)] = m;
    }
    dnnl::concat::primitive_desc pd(1, srcs, engine_);
    CountImpl("concat", pd.impl_info_str());
    memory dst(pd.dst_desc(), engine_);
    args[DNNL_ARG_DST] = dst;
    steps_.push_back({dnnl::concat(pd), std::move(args)});
    ++concat_copies_;
    current_ = dst;
  }

  void AddEltwise(Act act, const memory& src, const memory& dst) {
    dnnl::eltwise_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, EltwiseAlgorithm(act), src.get_desc(), 0.0f, 0.0f},
        engine_);
    steps_.push_back({dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
    current_ = dst;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  int64_t batch_;
  OneDnnConvAlgo conv_algo_;
  Shape item_shape_, out_shape_;
  std::vector<Step> steps_;
  std::vector<memory> values_;  // value id + 1 → memory
  memory current_;              // the output of the op being built
  memory user_in_, user_out_;
  int in_place_sums_ = 0;
  int in_place_concats_ = 0;
  int concat_copies_ = 0;
  int reorders_ = 0;        // Reorders of a value between two primitives (not the input's).
  int wino_fallbacks_ = 0;  // convs created direct under OneDnnConvAlgo::kWinograd
  std::map<std::string, int> impls_;  // "conv brgconv:avx512_core" → count
  std::string notes_;
};

}  // namespace

std::string OneDnnCpuIsa() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41:
      return "sse41";
    case cpu_isa::avx:
      return "avx";
    case cpu_isa::avx2:
      return "avx2";
    case cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case cpu_isa::avx512_core:
      return "avx512_core";
    case cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return absl::StrCat("cpu_isa ", static_cast<int>(dnnl::get_effective_cpu_isa()));
  }
}

absl::StatusOr<std::unique_ptr<Engine>> MakeOneDnnEngine(const PeerNet& net, int64_t batch,
                                                         OneDnnConvAlgo conv_algo) {
  auto engine = std::make_unique<OneDnnEngine>(batch, conv_algo);
  try {
    absl::Status s = engine->Build(net);
    if (!s.ok()) return s;
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN refused the network: ", e.what()));
  } catch (const std::invalid_argument& e) {
    return absl::InvalidArgumentError(absl::StrCat("oneDNN engine: ", e.what()));
  }
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace theano_serving::bench
