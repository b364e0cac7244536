#include "server/thread_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/thread_name.h"

namespace theano_serving {

ThreadPool::ThreadPool(int num_threads, int max_queue) : max_queue_(std::max(0, max_queue)) {
  const int n = std::max(1, num_threads);
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_available_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status ThreadPool::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(queue_.size()) >= max_queue_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("thread pool queue is full (", max_queue_, " tasks waiting, the limit)"));
  }
  queue_.push_back(std::move(task));
  work_available_.Signal();
  return absl::OkStatus();
}

int ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

void ThreadPool::WorkerLoop() {
  NameThisThread("pool");
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) work_available_.Wait(&mu_);
      // Stopping with an empty queue: done. Stopping with tasks left: keep draining.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace theano_serving
