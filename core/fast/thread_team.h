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
  using Job = void (*)(const void* context, int share, int shares);

  ThreadTeam() = default;
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;
  ~ThreadTeam();

  // Runs job(context, m, shares) exactly once for every share m in [0, shares), on the calling
  // thread and on up to shares - 1 workers (started on first need); returns when all have
  // returned. Each participant claims the next unclaimed share until none is left, so a worker
  // that is late (asleep, or its core gone idle: waking one took 6 ms on this project's VM after
  // 20 ms idle) never holds up the call: the calling thread runs the shares nobody claimed, and
  // waits only for the workers that did claim one. Which thread runs a share never changes what
  // it computes. Not reentrant: a job must not call Run on the same team.
  void Run(int shares, Job job, const void* context);

  // The calling thread's team.
  static ThreadTeam& ForThisThread();

  // How long an idle worker spins before it sleeps: long enough that a forward pass never puts
  // its workers to sleep between two parallel steps (single-threaded stretches of small layers
  // last well under 2 ms), since waking a sleeping worker costs tens of microseconds, more on a
  // core gone idle (GoogLeNet b1 on 2 threads after a 20 ms gap: 14.6 ms with 100 us, 8.5 ms with
  // 2 ms; docs/PERFORMANCE.md). A server that is idle pays at most 2 ms of one core per batch.
  static constexpr int64_t kSpinNanos = 2'000'000;

 private:
  // state_: the posted job's sequence number (high 32 bits), whether it is closed to workers
  // (kClosed) and how many workers are inside it (the low bits).
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kInsideMask = kClosed - 1;
  static uint64_t Sequence(uint64_t state) { return state >> 32; }

  void WorkerLoop(uint64_t seen);
  // Runs shares of the current job until none is left unclaimed.
  void RunShares(Job job, const void* context, int shares);

  std::vector<std::thread> workers_;
  // Written by Run before it posts a job (a release store of state_), read by a worker after it
  // enters the job (an acquire compare-exchange of state_).
  std::atomic<uint64_t> state_{0};
  std::atomic<Job> job_{nullptr};
  std::atomic<const void*> context_{nullptr};
  std::atomic<int> shares_{0};
  std::atomic<int> next_share_{0};
  std::atomic<bool> stop_{false};
  // Sleeping workers wait here; the poster notifies only if some sleep.
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
  // The CPU the last job was posted from (-1: unknown).
  std::atomic<int> poster_cpu_{-1};
};

// Runs `body(begin, end)` over [0, n) split into `threads` contiguous ranges, the shares of the
// calling thread's ThreadTeam, or on the calling thread alone for threads <= 1. The ranges depend
// on n and threads alone. (No std::function: nothing is allocated per call.)
void ParallelRangesImpl(int64_t n, int threads, void (*body)(const void*, int64_t, int64_t),
                        const void* context);
template <typename F>
void ParallelRanges(int64_t n, int threads, const F& body) {
  ParallelRangesImpl(
      n, threads,
      [](const void* f, int64_t begin, int64_t end) { (*static_cast<const F*>(f))(begin, end); },
      &body);
}
// Inside a ParallelRanges body: which of the ranges it runs (0 outside one), for per-range
// scratch: no two threads run the same range at once.
int TeamMember();

}  // namespace fast
}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FAST_THREAD_TEAM_H_
