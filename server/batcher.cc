#include "server/batcher.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/thread_name.h"

namespace theano_serving {

struct Batcher::State {
  struct Entry {
    BatchTask task;
    absl::Time enqueued;
    int n = 0;
  };

  std::shared_ptr<const Model> model;
  BatcherOptions options;
  std::function<void(int)> on_queue_depth;
  Shape image_shape;  // one input, without the batch axis (the input spec's shape())

  absl::Mutex mu;
  absl::CondVar work;  // the queue changed, or shutdown began
  std::deque<Entry> queue ABSL_GUARDED_BY(mu);
  int queued_images ABSL_GUARDED_BY(mu) = 0;
  bool shutdown ABSL_GUARDED_BY(mu) = false;

  // Touched only by the Batcher's constructor and destructor.
  std::vector<std::thread> threads;

  void ReportDepth() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (on_queue_depth) on_queue_depth(queued_images);
  }
  // Drops expired and cancelled tasks, runs the rest as one model run and calls every done.
  // Called without the lock.
  void RunBatch(std::vector<Entry>& batch);
};

Batcher::Batcher(std::shared_ptr<const Model> model, BatcherOptions options,
                 std::function<void(int queued_images)> on_queue_depth)
    : state_(std::make_shared<State>()) {
  options.max_batch_size = std::max(1, options.max_batch_size);
  options.num_threads = std::max(1, options.num_threads);
  options.max_queue_images = std::max(0, options.max_queue_images);
  if (options.max_queue_delay < absl::ZeroDuration())
    options.max_queue_delay = absl::ZeroDuration();
  state_->image_shape = model->input().shape();
  state_->model = std::move(model);
  state_->options = options;
  state_->on_queue_depth = std::move(on_queue_depth);
  state_->threads.reserve(static_cast<size_t>(options.num_threads));
  for (int i = 0; i < options.num_threads; ++i) {
    state_->threads.emplace_back(&Batcher::WorkerLoop, state_);
  }
}

Batcher::~Batcher() {
  {
    absl::MutexLock lock(&state_->mu);
    state_->shutdown = true;
    state_->work.SignalAll();
  }
  for (std::thread& t : state_->threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // WorkerLoop holds its own reference to the state and drains the queue.
    } else {
      t.join();
    }
  }
}

absl::Status Batcher::Submit(BatchTask task) {
  std::vector<BatchTask> tasks;
  tasks.push_back(std::move(task));
  return SubmitAll(std::move(tasks));
}

absl::Status Batcher::SubmitAll(std::vector<BatchTask> tasks) {
  State& s = *state_;
  const Shape& want = s.image_shape;
  int64_t total = 0;
  for (const BatchTask& task : tasks) {
    const Shape& shape = ShapeOf(task.images);
    if (!task.done) return absl::InvalidArgumentError("batch task has no done callback");
    if (shape.size() != want.size() + 1 ||
        !std::equal(want.begin(), want.end(), shape.begin() + 1)) {
      Shape expected = {shape.empty() ? 1 : shape[0]};
      expected.insert(expected.end(), want.begin(), want.end());
      return absl::InvalidArgumentError(absl::StrCat("model ", s.model->name(),
                                                     ": images have shape ", ShapeToString(shape),
                                                     ", expected ", ShapeToString(expected)));
    }
    if (DTypeOf(task.images) != s.model->dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model ", s.model->name(), ": a batch task holds ", DTypeName(DTypeOf(task.images)),
          " values, the model computes in ", DTypeName(s.model->dtype())));
    }
    const int64_t n = shape[0];
    if (n < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model ", s.model->name(), ": a batch task needs at least 1 image, got ", n));
    }
    if (n > s.options.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat("model ", s.model->name(), ": ", n,
                                                     " images in one task exceed max_batch_size ",
                                                     s.options.max_batch_size));
    }
    total += n;
  }
  if (tasks.empty()) return absl::InvalidArgumentError("no batch task to submit");
  absl::MutexLock lock(&s.mu);
  if (s.shutdown) {
    return absl::UnavailableError(
        absl::StrCat("model ", s.model->name(), ": the batcher is shutting down"));
  }
  if (s.queued_images + total > s.options.max_queue_images) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model ", s.model->name(), ": the batch queue is full (", s.queued_images,
                     " images queued, ", total, " more would exceed max_queue_images ",
                     s.options.max_queue_images, ")"));
  }
  const absl::Time now = absl::Now();
  for (BatchTask& task : tasks) {
    const int n = static_cast<int>(ShapeOf(task.images)[0]);
    s.queue.push_back(State::Entry{std::move(task), now, n});
    s.queued_images += n;
  }
  s.ReportDepth();
  if (tasks.size() == 1) {
    s.work.Signal();
  } else {
    s.work.SignalAll();
  }
  return absl::OkStatus();
}

bool Batcher::HasRoomFor(int64_t n) const {
  absl::MutexLock lock(&state_->mu);
  return !state_->shutdown && state_->queued_images + n <= state_->options.max_queue_images;
}

int Batcher::queued_images() const {
  absl::MutexLock lock(&state_->mu);
  return state_->queued_images;
}

const BatcherOptions& Batcher::options() const { return state_->options; }

void Batcher::State::RunBatch(std::vector<Entry>& batch) {
  State& s = *this;
  const absl::Time taken = absl::Now();
  std::vector<State::Entry*> live;
  live.reserve(batch.size());
  int64_t total = 0;
  for (State::Entry& e : batch) {
    BatchStats stats;
    stats.queue_time = taken - e.enqueued;
    if (e.task.deadline < taken) {
      e.task.done(
          absl::DeadlineExceededError(absl::StrCat(
              "model ", s.model->name(), ": the deadline passed while the request was ",
              "queued for inference (queued ", absl::FormatDuration(stats.queue_time), ")")),
          stats);
    } else if (e.task.cancelled && e.task.cancelled()) {
      e.task.done(
          absl::CancelledError(absl::StrCat(
              "model ", s.model->name(), ": the request was cancelled while queued for inference")),
          stats);
    } else {
      live.push_back(&e);
      total += e.n;
    }
  }
  if (live.empty()) return;

  AnyTensor input;
  if (live.size() == 1) {
    input = std::move(live.front()->task.images);
  } else {
    std::vector<const AnyTensor*> parts;
    for (State::Entry* e : live) parts.push_back(&e->task.images);
    input = ConcatRows(parts);
    for (State::Entry* e : live) e->task.images = AnyTensor();  // release the sources early
  }

  const absl::Time start = absl::Now();
  absl::StatusOr<AnyTensor> output = s.model->Predict(input);
  const absl::Duration inference_time = absl::Now() - start;

  int64_t row = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    State::Entry& e = *live[i];
    BatchStats stats;
    stats.queue_time = taken - e.enqueued;
    stats.inference_time = inference_time;
    stats.batch_size = static_cast<int>(total);
    stats.first_in_batch = i == 0;
    if (!output.ok()) {
      e.task.done(output.status(), stats);
    } else if (live.size() == 1) {
      e.task.done(std::move(output), stats);
    } else {
      e.task.done(SliceRows(*output, row, e.n), stats);
      row += e.n;
    }
  }
}

void Batcher::WorkerLoop(std::shared_ptr<State> state) {
  NameThisThread("batcher");
  State& s = *state;
  const int max_batch = s.options.max_batch_size;
  const absl::Duration delay = s.options.max_queue_delay;
  std::vector<State::Entry> batch;
  while (true) {
    // Finished tasks (and whatever their callbacks captured) are destroyed here, outside the
    // lock; this may destroy the Batcher itself (see ~Batcher).
    batch.clear();
    {
      absl::MutexLock lock(&s.mu);
      while (true) {
        while (s.queue.empty() && !s.shutdown) s.work.Wait(&s.mu);
        if (s.queue.empty()) return;  // shut down and drained
        if (s.shutdown || s.queued_images >= max_batch) break;
        // The oldest task waits for company until max_queue_delay after it was queued. The loop
        // re-reads the front: another thread may have taken it meanwhile.
        const absl::Time flush_at = s.queue.front().enqueued + delay;
        if (absl::Now() >= flush_at) break;
        s.work.WaitWithDeadline(&s.mu, flush_at);
      }
      int total = 0;
      while (!s.queue.empty() && total + s.queue.front().n <= max_batch) {
        total += s.queue.front().n;
        batch.push_back(std::move(s.queue.front()));
        s.queue.pop_front();
      }
      s.queued_images -= total;
      s.ReportDepth();
      if (!s.queue.empty()) s.work.Signal();  // what is left is another thread's batch
    }
    s.RunBatch(batch);
  }
}

}  // namespace theano_serving
