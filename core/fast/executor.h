// The executor: runs a plan (plan.h) on a batch. Steps run in order, each one kernel call over the
// whole batch, except image blocks (passes.h), whose steps run group of images by group, the
// groups spread over the threads. A Workspace holds the buffers of one run; a WorkspacePool keeps
// them for reuse, so that steady-state runs do not allocate.
#ifndef THEANO_SERVING_CORE_FAST_EXECUTOR_H_
#define THEANO_SERVING_CORE_FAST_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/fast/kernel_common.h"
#include "core/fast/plan.h"
#include "core/tensor.h"

namespace theano_serving {
namespace fast {

// The buffers of one run at a time. Not thread-safe: one caller at a time.
struct Workspace {
  int64_t capacity = 0;  // Items the slots hold.
  std::vector<AlignedArray> slots;
  std::vector<AlignedArray> group_scratch;  // One per thread.
  std::vector<AlignedArray> share_scratch;  // One per thread (KernelEnv::scratch).
  std::vector<float*> share_scratch_ptrs;
  // ReferenceStep inputs and output, reused (keyed by step index).
  struct ReferenceIo {
    std::vector<Tensor<float>> ins;
    std::vector<const Tensor<float>*> in_ptrs;
    Tensor<float> out;
    Shape shape;  // Scratch for the batch's shapes.
  };
  std::map<size_t, ReferenceIo> reference;
};

// Workspaces for concurrent runs of one plan: Take() gives a free one (or a new one), Give()
// returns it. Thread-safe.
class WorkspacePool {
 public:
  std::unique_ptr<Workspace> Take();
  void Give(std::unique_ptr<Workspace> ws);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

// Runs `plan` on `input` (n >= 1 items of the planned shape) into `output` (already of the
// output shape), using `ws` (grown to n items if needed) and `env`'s threads (env.threads
// group scratches). If `step_seconds` is given, adds each step's wall time to it (sized to the
// steps) and runs image blocks' groups on one thread so that each step's time is its own.
void Execute(const Plan& plan, const KernelEnv& env, const Tensor<float>& input,
             Tensor<float>* output, Workspace* ws, std::vector<double>* step_seconds);

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_EXECUTOR_H_
