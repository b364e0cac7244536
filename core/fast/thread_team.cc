#include "core/fast/thread_team.h"

#include <chrono>
#include <memory>

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
      [](const void* r, int member, int members) {
        const Ranges& job = *static_cast<const Ranges*>(r);
        team_member = member;
        job.body(job.context, job.n * member / members, job.n * (member + 1) / members);
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
  generation_.fetch_add(1);
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadTeam::Run(int members, Job job, const void* context) {
  if (members <= 1) {
    job(context, 0, 1);
    return;
  }
  while (static_cast<int>(workers_.size()) < members - 1) {
    // No job is in flight: a new worker starts from the current generation.
    const int member = static_cast<int>(workers_.size()) + 1;
    workers_.emplace_back(&ThreadTeam::WorkerLoop, this, member, generation_.load());
  }
  job_.store(job, std::memory_order_relaxed);
  context_.store(context, std::memory_order_relaxed);
  members_.store(members, std::memory_order_relaxed);
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);  // Publishes the fields above.
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }
  job(context, 0, members);
  auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  while (!SpinUntil(done)) std::this_thread::yield();  // A worker was descheduled.
}

void ThreadTeam::WorkerLoop(int member, uint64_t seen) {
  NameThisThread("team");
  for (;;) {
    auto posted = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!SpinUntil(posted)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    const int members = members_.load(std::memory_order_relaxed);
    if (member < members) {
      job_.load(std::memory_order_relaxed)(context_.load(std::memory_order_relaxed), member,
                                           members);
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace fast
}  // namespace theano_serving
