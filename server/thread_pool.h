// ThreadPool: a fixed number of threads draining one bounded FIFO queue of tasks. The server runs
// CPU work that must stay off the gRPC threads (image decoding) here.
#ifndef THEANO_SERVING_SERVER_THREAD_POOL_H_
#define THEANO_SERVING_SERVER_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace theano_serving {

// Thread-safe. Tasks run in FIFO order (started in order; with several threads they overlap).
class ThreadPool {
 public:
  // Starts `num_threads` threads (values below 1 are taken as 1). At most `max_queue` tasks wait at
  // once (negative values are taken as 0, which refuses every task).
  ThreadPool(int num_threads, int max_queue);
  // Runs every task still queued (tasks may Schedule more while it does; those run too), then
  // joins the threads. Must not be called from one of the pool's own tasks.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`. ResourceExhausted, at once and without running it, if `max_queue` tasks are
  // already waiting (tasks being run do not count); the message gives the limit.
  absl::Status Schedule(std::function<void()> task);

  // Tasks waiting for a thread (not counting the ones running).
  int queued() const;

 private:
  void WorkerLoop();

  const int max_queue_;
  mutable absl::Mutex mu_;
  absl::CondVar work_available_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_THREAD_POOL_H_
