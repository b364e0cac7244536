#include "core/fast/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "core/fast/conv.h"
#include "core/fast/eltwise.h"
#include "core/fast/layout.h"
#include "core/fast/norm.h"
#include "core/fast/planar_conv.h"
#include "core/fast/pool.h"
#include "core/fast/thread_team.h"
#include "core/fast/winograd.h"

namespace theano_serving {
namespace fast {

std::unique_ptr<Workspace> WorkspacePool::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      std::unique_ptr<Workspace> ws = std::move(free_.back());
      free_.pop_back();
      return ws;
    }
  }
  return std::make_unique<Workspace>();
}

void WorkspacePool::Give(std::unique_ptr<Workspace> ws) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(ws));
}

namespace {

// memcpy of n floats; n may be 0 (an empty tensor's data() may be null).
void CopyFloats(float* dst, const float* src, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// Where value v's images [b0, ...) start.
// (Group scratch values: the group's first image, wherever b0 is.)
float* ValuePointer(const Plan& plan, const Workspace& ws, const Tensor<float>& input, int v,
                    int64_t b0, float* scratch) {
  const Value& val = plan.value(v);
  if (val.group_offset >= 0) return scratch + val.group_offset;
  float* base = val.slot < 0 ? const_cast<float*>(input.data())
                             : ws.slots[static_cast<size_t>(val.slot)].get();
  return base + b0 * val.Elements();
}

// Runs one step on images [b0, b0 + n): one operator() per step kind, each a kernel call.
class StepRunner {
 public:
  StepRunner(const Plan& plan, size_t si, Workspace* ws, const Tensor<float>& input, int64_t b0,
             int64_t n, float* scratch, const KernelEnv& env)
      : plan_(plan),
        step_(plan.steps[si]),
        si_(si),
        ws_(*ws),
        input_(input),
        b0_(b0),
        n_(n),
        scratch_(scratch),
        env_(env),
        x_(Ptr(step_.in[0])),
        y_(Ptr(step_.out)) {}

  void operator()(const ToNhwcStep& s) const {
    NchwToNhwc(x_, n_, s.c, s.h, s.w, s.frame, y_, env_);
  }
  void operator()(const ToPlainStep& s) const { NhwcToNchw(x_, n_, s.c, s.h, s.w, y_, env_); }
  void operator()(const PadStep& s) const {
    CopyIntoPadded(x_, n_, s.h, s.w, s.c, s.frame, y_, env_);
  }
  void operator()(const ConvStep& s) const {
    RunConvOn(s.task, s.taps, &s.weights, step_.in.size() > 1 ? Ptr(step_.in[1]) : nullptr,
              s.winograd.empty() ? nullptr : &s.winograd);
  }
  void operator()(const DenseStep& s) const {
    RunConvOn(s.task, s.taps, n_ < kSmallBatch ? &s.weights_small : &s.weights, nullptr, nullptr);
  }
  void operator()(const ShiftStep& s) const { ShiftForPlanar(x_, n_, s.shift, y_, env_); }
  void operator()(const PlanarConvStep& s) const {
    PlanarConvTask task;
    task.shifted = x_;
    task.batch = n_;
    task.shifted_per_image = s.shift.PerImage();
    task.pixels = s.pixels;
    task.offsets = s.offsets.data();
    task.weights = &s.weights;
    task.output = y_;
    task.activation = s.activation;
    RunPlanarConv(task, env_);
  }
  void operator()(const PoolStep& s) const {
    RunPool(x_, n_, s.h, s.w, s.c, s.config, s.out_h, s.out_w, s.frame, y_, s.activation, env_);
  }
  void operator()(const PlanarPoolStep& s) const {
    RunPoolPlanar(s.pool, x_, n_ * s.c, y_, s.activation, s.writes_shifts ? &s.shift : nullptr,
                  env_);
  }
  void operator()(const BiasStep& s) const {
    ChannelOp(x_, s.bias, s.multiply, n_ * s.pixels, s.c, y_, env_);
    ApplyActivation(env_.isa, s.activation, y_, y_, n_ * s.pixels * s.c);
  }
  void operator()(const ElementwiseStep& s) const {
    const int64_t count = n_ * plan_.value(step_.out).Elements();
    // (A reference function is counted as ten floats' work per element: expm1, divisions.)
    const bool reference = s.activation == Activation::kOther && !s.leaky;
    ForLineRanges(count, static_cast<double>(count) * (reference ? 10 : 1), env_,
                  [&](int64_t i0, int64_t i1) {
                    if (s.activation != Activation::kOther) {
                      ApplyActivation(env_.isa, s.activation, x_ + i0, y_ + i0, i1 - i0);
                    } else if (s.leaky) {
                      LeakyRelu(env_.isa, s.leaky_f1, s.leaky_f2, x_ + i0, y_ + i0, i1 - i0);
                    } else {
                      s.apply(x_ + i0, y_ + i0, i1 - i0);
                    }
                  });
  }
  void operator()(const SumStep& s) const {
    absl::InlinedVector<const float*, 8> xs;  // On the stack for up to 8 terms.
    for (int v : step_.in) xs.push_back(Ptr(v));
    AddArrays(xs, n_ * plan_.value(step_.out).Elements(), y_, s.activation, env_);
  }
  void operator()(const BatchNormStep& s) const {
    RunBatchNorm(s.norm, x_, n_, s.c, s.h, s.w, s.channels_last, s.frame, y_, s.activation, env_);
  }
  void operator()(const LrnStep& s) const {
    RunLrn(s.lrn, x_, n_, s.h, s.w, s.c, s.frame, y_, env_);
  }
  void operator()(const ConcatStep& s) const {
    for (size_t k = 0; k < step_.in.size(); ++k) {
      const float* x = Ptr(step_.in[k]);
      if (s.nhwc) {
        CopyIntoPadded(x, n_, s.h, s.w, s.channels[k], s.frame.Slice(s.offsets[k], s.total), y_,
                       env_);
      } else {
        CopyIntoRows(x, n_, s.h, s.channels[k], s.w, s.total, s.offsets[k], y_, env_);
      }
    }
  }
  void operator()(const ReduceStep& s) const {
    RunReduce(s.reduce, x_, n_, s.c, s.pixels, s.channels_last, y_, env_);
  }
  void operator()(const SliceStep& s) const {
    RunSlice(x_, n_, s.outer, s.n, s.inner, s.start, s.step, s.length, y_, env_);
  }
  void operator()(const AxisReduceStep& s) const {
    RunAxisReduce(s.reduce, x_, n_, s.outer, s.n, s.inner, y_, env_);
  }
  void operator()(const SoftmaxStep& s) const { RunSoftmax(x_, n_, s.cols, s.log, y_, env_); }
  void operator()(const ReferenceStep& s) const;

 private:
  float* Ptr(int v) const { return ValuePointer(plan_, ws_, input_, v, b0_, scratch_); }
  // RunConv (or, given `winograd`, RunWinogradConv) of a conv or dense step's planned task on
  // this run's images.
  void RunConvOn(ConvTask task, const std::vector<int64_t>& taps, const PackedWeights* weights,
                 const float* residual, const WinogradWeights* winograd) const {
    task.input = x_;
    task.output = y_;
    task.batch = n_;
    task.tap_offsets = taps.data();
    task.residual = residual;
    task.weights = weights;
    if (winograd != nullptr) {
      RunWinogradConv(task, *winograd, env_);
    } else {
      RunConv(task, env_);
    }
  }

  const Plan& plan_;
  const Step& step_;
  size_t si_;
  Workspace& ws_;
  const Tensor<float>& input_;
  int64_t b0_, n_;
  float* scratch_;
  const KernelEnv env_;
  const float* x_;  // The first input's images.
  float* y_;        // The output's images.
};

void StepRunner::operator()(const ReferenceStep& s) const {
  // The tensors, their pointers and shapes are kept in the workspace: once warm, only the
  // reference layer itself may allocate.
  Workspace::ReferenceIo& io = ws_.reference[si_];
  io.ins.resize(step_.in.size());
  io.in_ptrs.clear();
  for (size_t k = 0; k < step_.in.size(); ++k) {
    io.shape = s.in_shapes[k];
    io.shape[0] = n_;
    if (io.ins[k].shape() != io.shape) io.ins[k].Resize(io.shape);
    CopyFloats(io.ins[k].data(), Ptr(step_.in[k]), io.ins[k].size());
    io.in_ptrs.push_back(&io.ins[k]);
  }
  io.shape = s.out_shape;
  io.shape[0] = n_;
  if (io.out.shape() != io.shape) io.out.Resize(io.shape);
  s.layer->Run(io.in_ptrs, &io.out);
  CopyFloats(y_, io.out.data(), io.out.size());
}

// Grows the workspace to n items (and env.threads group scratches) if it is smaller.
void Reserve(const Plan& plan, int64_t n, int threads, Workspace* ws) {
  if (ws->capacity < n) {
    ws->slots.clear();
    for (int64_t e : plan.slot_elements) ws->slots.push_back(AllocateZeroed(e * n));
    ws->capacity = n;
  }
  if (ws->group_scratch.empty() && plan.group_scratch_floats > 0) {
    for (int t = 0; t < threads; ++t) {
      ws->group_scratch.push_back(AllocateZeroed(plan.group_scratch_floats));
    }
  }
  if (ws->share_scratch.empty() && plan.share_scratch_floats > 0) {
    for (int t = 0; t < threads; ++t) {
      ws->share_scratch.push_back(AllocateZeroed(plan.share_scratch_floats));
      ws->share_scratch_ptrs.push_back(ws->share_scratch.back().get());
    }
  }
}

}  // namespace

void Execute(const Plan& plan, const KernelEnv& run_env, const Tensor<float>& input,
             Tensor<float>* output, Workspace* ws, std::vector<double>* step_seconds) {
  const int64_t n = input.shape()[0];
  Reserve(plan, n, run_env.threads, ws);
  KernelEnv env = run_env;
  env.scratch = ws->share_scratch_ptrs.data();
  env.scratch_floats = plan.share_scratch_floats;
  if (step_seconds != nullptr) step_seconds->resize(plan.steps.size(), 0.0);
  auto run = [&](size_t si, int64_t b0, int64_t count, float* scratch, int threads) {
    const auto start = step_seconds == nullptr ? std::chrono::steady_clock::time_point()
                                               : std::chrono::steady_clock::now();
    std::visit(StepRunner(plan, si, ws, input, b0, count, scratch, env.WithThreads(threads)),
               plan.steps[si].op);
    if (step_seconds != nullptr) {
      (*step_seconds)[si] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  };
  for (size_t si = 0; si < plan.steps.size();) {
    const size_t block_end = plan.block_end[si];
    if (block_end == si + 1) {
      run(si, 0, n, nullptr, env.threads);
      ++si;
      continue;
    }
    // An image block: its steps run group of images by group (each group's intermediates stay
    // in cache, in the thread's group scratch), the groups spread over the threads (one thread
    // when profiling, so that each step's time is its own).
    // With fewer groups than threads, the groups run in turn, each step on every thread.
    // Spread over the threads, the groups are as many as give every thread the same number (and
    // then of even sizes, none above block_images): LeNet b32 on 2 threads ran 5 groups of 7, 6
    // and 4 images, 18 against 14 images per thread (AVX2 1.02 ms); now 6 of 5 or 6, 16 each.
    const int64_t images = plan.block_images[si];
    int64_t groups = (n + images - 1) / images;
    const bool spread = groups >= env.threads && step_seconds == nullptr;
    if (spread) groups = std::min(n, (groups + env.threads - 1) / env.threads * env.threads);
    ParallelRanges(groups, spread ? env.threads : 1, [&](int64_t begin, int64_t end) {
      // A block whose values are all read after it has no scratch.
      float* scratch = ws->group_scratch.empty()
                           ? nullptr
                           : ws->group_scratch[static_cast<size_t>(TeamMember())].get();
      for (int64_t gi = begin; gi < end; ++gi) {
        const int64_t b0 = gi * n / groups, b1 = (gi + 1) * n / groups;
        for (size_t k = si; k < block_end; ++k)
          run(k, b0, b1 - b0, scratch, spread ? 1 : env.threads);
      }
    });
    si = block_end;
  }
  CopyFloats(output->data(), ValuePointer(plan, *ws, input, plan.output_value, 0, nullptr),
             output->size());
}

}  // namespace fast
}  // namespace theano_serving
