#include "core/fast/thread_team.h"

#include <chrono>
#include <memory>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "core/thread_name.h"

namespace theano_serving {
namespace fast {
namespace {

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until done() or until kSpinNanos have passed; returns done().
template <typename F>
bool SpinUntil(const F& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::nanoseconds(ThreadTeam::kSpinNanos);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

thread_local int team_member = 0;

// The CPU the calling thread runs on, or -1 where the OS does not say.
int CurrentCpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

// While it lives, the calling thread may not run on `cpu` (if it may run elsewhere); then it may
// run wherever it could before. The scheduler leaves a thread where it is when its mask widens.
class AvoidCpu {
 public:
  explicit AvoidCpu(int cpu) {
#if defined(__linux__)
    if (cpu < 0 || sched_getaffinity(0, sizeof(allowed_), &allowed_) != 0 ||
        !CPU_ISSET(cpu, &allowed_)) {
      return;
    }
    cpu_set_t others = allowed_;
    CPU_CLR(cpu, &others);
    active_ = CPU_COUNT(&others) > 0 && sched_setaffinity(0, sizeof(others), &others) == 0;
#else
    (void)cpu;
#endif
  }
  ~AvoidCpu() {
#if defined(__linux__)
    if (active_) sched_setaffinity(0, sizeof(allowed_), &allowed_);
#endif
  }
  AvoidCpu(const AvoidCpu&) = delete;
  AvoidCpu& operator=(const AvoidCpu&) = delete;

 private:
#if defined(__linux__)
  cpu_set_t allowed_;
#endif
  bool active_ = false;
};

}  // namespace

int TeamMember() { return team_member; }

void ParallelRangesImpl(int64_t n, int threads, void (*body)(const void*, int64_t, int64_t),
                        const void* context) {
  if (threads <= 1 || n <= 1) {
    body(context, int64_t{0}, n);
    return;
  }
  struct Ranges {
    int64_t n;
    void (*body)(const void*, int64_t, int64_t);
    const void* context;
  } ranges{n, body, context};
  ThreadTeam::ForThisThread().Run(
      threads,
      [](const void* r, int share, int shares) {
        const Ranges& job = *static_cast<const Ranges*>(r);
        team_member = share;
        job.body(job.context, job.n * share / shares, job.n * (share + 1) / shares);
        team_member = 0;
      },
      &ranges);
}

ThreadTeam& ThreadTeam::ForThisThread() {
  thread_local ThreadTeam team;
  return team;
}

ThreadTeam::~ThreadTeam() {
  if (workers_.empty()) return;
  stop_.store(true);
  state_.fetch_add(uint64_t{1} << 32);  // A new sequence number: every worker looks, and stops.
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadTeam::RunShares(Job job, const void* context, int shares) {
  for (;;) {
    const int share = next_share_.fetch_add(1, std::memory_order_relaxed);
    if (share >= shares) return;
    job(context, share, shares);
  }
}

void ThreadTeam::Run(int shares, Job job, const void* context) {
  if (shares <= 1) {
    job(context, 0, 1);
    return;
  }
  // No job is in flight (the last Run waited for every worker inside it): a new worker starts
  // from the current sequence number.
  while (static_cast<int>(workers_.size()) < shares - 1) {
    workers_.emplace_back(&ThreadTeam::WorkerLoop, this, Sequence(state_.load()));
  }
  job_.store(job, std::memory_order_relaxed);
  context_.store(context, std::memory_order_relaxed);
  shares_.store(shares, std::memory_order_relaxed);
  next_share_.store(0, std::memory_order_relaxed);
  const uint64_t sequence = Sequence(state_.load(std::memory_order_relaxed)) + 1;
  state_.store(sequence << 32, std::memory_order_seq_cst);  // Posts the fields above, open.
  poster_cpu_.store(CurrentCpu(), std::memory_order_relaxed);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }
  RunShares(job, context, shares);
  // Every share is claimed: close the job to workers not yet inside, and wait for those inside
  // (their writes become visible through their release decrement).
  state_.fetch_or(kClosed, std::memory_order_acq_rel);
  auto done = [this] { return (state_.load(std::memory_order_acquire) & kInsideMask) == 0; };
  while (!SpinUntil(done)) std::this_thread::yield();  // A worker was descheduled.
}

void ThreadTeam::WorkerLoop(uint64_t seen) {
  NameThisThread("team");
  for (;;) {
    auto posted = [&] { return Sequence(state_.load(std::memory_order_acquire)) != seen; };
    if (!SpinUntil(posted)) {
      // Asleep, the worker may not run on the CPU its caller last posted from. Linux tends to
      // wake a thread on its waker's CPU, where it would wait behind the caller busy with its
      // own share until the caller sleeps (after 20 ms idle, LeNet b32 on 2 threads ran at one
      // thread's speed, 0.70 ms, even after 5 ms of back-to-back runs; now 0.36 ms, its steady
      // time, from the first run).
      AvoidCpu away(poster_cpu_.load(std::memory_order_relaxed));
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      cv_.wait(lock, [&] { return Sequence(state_.load(std::memory_order_seq_cst)) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    // Enter the newest job unless it is closed (the caller ran its last share): then skip it. The
    // state is read before stop_: the destructor sets stop_ before it bumps the sequence, so a
    // worker that reads the bump here sees the stop. (Checked the other way round, a worker that
    // saw the last job posted could take the bump for that job, skip it as closed and sleep with
    // nothing left to wake it: the destructor's join hung.)
    uint64_t state = state_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    seen = Sequence(state);
    bool inside = false;
    while (!inside && (state & kClosed) == 0 && Sequence(state) == seen) {
      inside = state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel,
                                            std::memory_order_acquire);
    }
    if (!inside) continue;
    RunShares(job_.load(std::memory_order_relaxed), context_.load(std::memory_order_relaxed),
              shares_.load(std::memory_order_relaxed));
    state_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace fast
}  // namespace theano_serving
