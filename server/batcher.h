// Batcher: dynamic batching for one model version. Requests queue their images; inference threads
// take the oldest request, wait briefly for company, run whole requests together as one batch
// (one Model::Predict) and hand each request its rows of the output.
#ifndef THEANO_SERVING_SERVER_BATCHER_H_
#define THEANO_SERVING_SERVER_BATCHER_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/dtype.h"
#include "core/model.h"
#include "core/tensor.h"

namespace theano_serving {

struct BatcherOptions {
  int max_batch_size = 8;  // images per model run; values below 1 are taken as 1
  // How long the oldest queued request waits for company before its batch runs anyway.
  // Zero: no waiting (a batch is whatever is queued when a thread becomes free).
  absl::Duration max_queue_delay = absl::Microseconds(500);
  // Images waiting at most; a Submit that would exceed it is refused with RESOURCE_EXHAUSTED.
  int max_queue_images = 256;
  // Inference threads for this model; each runs one batch at a time, single-threaded. Values
  // below 1 are taken as 1.
  int num_threads = 1;
};

// What happened to one task, for metrics.
struct BatchStats {
  absl::Duration queue_time;      // Submit → taken into a batch
  absl::Duration inference_time;  // the Model::Predict of its batch (zero if dropped)
  int batch_size = 0;             // images in the model run the task was part of (0 if dropped)
  // True for exactly one task of each model run (count runs with it: Metrics::Batch); false for
  // the others and for dropped tasks. (An addition to the original contract.)
  bool first_in_batch = false;
};

struct BatchTask {
  // (n, input shape...) in the model's dtype, as its input spec says; 1 <= n <= max_batch_size.
  AnyTensor images;
  // A task still queued at its deadline is dropped with DEADLINE_EXCEEDED (checked when taken).
  absl::Time deadline = absl::InfiniteFuture();
  // May be empty; checked when the task is taken: true → dropped with CANCELLED.
  std::function<bool()> cancelled;
  // Called exactly once, on a batcher thread, with this task's rows of the output
  // (n, output shape...) in the model's dtype, or an error (Model::Predict's error goes to every
  // task of the batch). Required.
  std::function<void(absl::StatusOr<AnyTensor>, const BatchStats&)> done;
};

// Thread-safe. Owns its threads; `model` is shared so a batcher can outlive the table entry that
// made it while requests drain.
class Batcher {
 public:
  // `on_queue_depth`, if given, is called with the number of queued images after every change,
  // with the batcher's lock held (so reports arrive in order): it must be quick and must not call
  // back into this Batcher.
  Batcher(std::shared_ptr<const Model> model, BatcherOptions options,
          std::function<void(int queued_images)> on_queue_depth = nullptr);
  // Stops accepting, runs every queued task (calling each done), then joins the threads. If it
  // runs on one of this batcher's own threads (the last reference to the owner was dropped inside
  // a done callback), that thread is detached instead and finishes the queue itself.
  ~Batcher();

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues `task`. InvalidArgument if images is not (n, input shape...) of the model's dtype, if
  // n is 0 or n > max_batch_size (the message names both numbers), or if done is empty;
  // ResourceExhausted at once if the queue cannot take n more images (the message gives the
  // limit); Unavailable after shutdown began. Only on OK will `done` be called (exactly once).
  absl::Status Submit(BatchTask task);

  // Queues every task of `tasks` or none: the same checks as Submit for each, and the queue must
  // have room for all their images at once, so a request split into several tasks is either
  // refused whole, at once, or runs whole (never refused after part of it was inferred).
  // InvalidArgument if `tasks` is empty. Only on OK will the tasks' done be called.
  absl::Status SubmitAll(std::vector<BatchTask> tasks);

  // True if the queue could take `n` more images right now (a hint: it may change before a
  // Submit; used to refuse a request before decoding its images).
  bool HasRoomFor(int64_t n) const;

  // Images waiting (not counting the batches being run).
  int queued_images() const;
  // The options in effect (after the clamping described above).
  const BatcherOptions& options() const;

 private:
  struct State;
  static void WorkerLoop(std::shared_ptr<State> state);

  // Shared with the worker threads, so a detached worker (see ~Batcher) keeps it alive.
  std::shared_ptr<State> state_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_BATCHER_H_
