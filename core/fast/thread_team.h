// The fast engine's intra-op threads: each calling thread gets its own team of worker threads
// (created on first use, joined when the calling thread exits), which spin for a short while
// between jobs before they sleep. A forward pass is tens of parallel steps microseconds apart: a
// team that sleeps between them (OpenMP with OMP_WAIT_POLICY=passive) pays a wake-up per step
// (ResNet-18 at batch 1 on 2 threads: +0.85 ms of 8.5), and one that spins indefinitely (OpenMP's
// active policy) holds the other cores while idle. The team's behaviour does not depend on the
// OpenMP environment. ParallelRanges is how the kernels use it.
#ifndef THEANO_SERVING_CORE_FAST_THREAD_TEAM_H_
#define THEANO_SERVING_CORE_FAST_THREAD_TEAM_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace theano_serving {
namespace fast {

class ThreadTeam {
 public:
  using Job = void (*)(const void* context, int member, int members);

  ThreadTeam() = default;
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;
  ~ThreadTeam();

  // Runs job(context, m, members) for every m in [0, members): m = 0 on the calling thread, the
  // others on workers (started on first need). Returns when all have returned. Not reentrant:
  // a job must not call Run on the same team.
  void Run(int members, Job job, const void* context);

  // The calling thread's team.
  static ThreadTeam& ForThisThread();

  // How long an idle worker spins before it sleeps: long enough that a forward pass never puts
  // its workers to sleep between two parallel steps (single-threaded stretches of small layers
  // last well under 2 ms), since waking a sleeping worker costs tens of microseconds, more on a
  // core gone idle (GoogLeNet b1 on 2 threads after a 20 ms gap: 14.6 ms with 100 us, 8.5 ms with
  // 2 ms; docs/PERFORMANCE.md). A server that is idle pays at most 2 ms of one core per batch.
  static constexpr int64_t kSpinNanos = 2'000'000;

 private:
  void WorkerLoop(int member, uint64_t seen);

  std::vector<std::thread> workers_;  // Worker w is member w + 1.
  // Incremented to post a job; the job's fields are written before (release) and read after
  // (acquire) by the workers.
  std::atomic<uint64_t> generation_{0};
  std::atomic<Job> job_{nullptr};
  std::atomic<const void*> context_{nullptr};
  std::atomic<int> members_{0};
  // Workers yet to finish the posted job (every worker acknowledges every job, members or not).
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  // Sleeping workers wait here; the poster notifies only if some sleep.
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

// Runs `body(begin, end)` over [0, n) split into one contiguous range per thread (the calling
// thread's ThreadTeam), or on the calling thread alone for threads <= 1. (No std::function:
// nothing is allocated per call.)
void ParallelRangesImpl(int64_t n, int threads, void (*body)(const void*, int64_t, int64_t),
                        const void* context);
template <typename F>
void ParallelRanges(int64_t n, int threads, const F& body) {
  ParallelRangesImpl(
      n, threads,
      [](const void* f, int64_t begin, int64_t end) { (*static_cast<const F*>(f))(begin, end); },
      &body);
}
// Inside a ParallelRanges body: which of the threads runs it (0: the calling thread).
int TeamMember();

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_THREAD_TEAM_H_
