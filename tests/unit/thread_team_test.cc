// fast::ThreadTeam: every share of every job runs exactly once, whether the workers are spinning or
// asleep when it is posted, with member counts that change between jobs, and with one team per
// calling thread. A binary of its own so that scripts/tsan.sh runs it under ThreadSanitizer.
#include "core/fast/thread_team.h"

#include <array>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace theano_serving::fast {
namespace {

constexpr int kMaxMembers = 4;

// Per member: how many times it ran, and whether it saw the member count it was posted with.
struct Tally {
  std::array<std::atomic<int>, kMaxMembers> runs{};
  std::atomic<int> wrong_members{0};
  int expected_members = 0;
};

void Count(const void* context, int member, int members) {
  auto* tally = const_cast<Tally*>(static_cast<const Tally*>(context));
  if (members != tally->expected_members) tally->wrong_members.fetch_add(1);
  tally->runs[static_cast<size_t>(member)].fetch_add(1);
}

void ExpectEachMemberRanOnce(ThreadTeam& team, int members) {
  Tally tally;
  tally.expected_members = members;
  team.Run(members, &Count, &tally);
  for (int m = 0; m < kMaxMembers; ++m) {
    EXPECT_EQ(tally.runs[static_cast<size_t>(m)].load(), m < members ? 1 : 0)
        << "member " << m << " of " << members;
  }
  EXPECT_EQ(tally.wrong_members.load(), 0);
}

TEST(ThreadTeamTest, BackToBackJobsRunOncePerMember) {
  ThreadTeam team;
  for (int i = 0; i < 5000; ++i) {
    ExpectEachMemberRanOnce(team, 2);
    if (HasFailure()) return;
  }
}

// A team destroyed right after a job joins its workers: a worker that saw the job posted, and was
// still on its way in when the caller ran every share and the destructor bumped the sequence, must
// still see the stop (it once took that bump for a job it had missed and slept forever; CI hung).
TEST(ThreadTeamTest, TeamsDestroyedRightAfterAJobJoinTheirWorkers) {
  for (int i = 0; i < 20000; ++i) {
    ThreadTeam team;
    ExpectEachMemberRanOnce(team, 2);
    if (HasFailure()) return;
  }
}

// Jobs posted after the workers have stopped spinning wake them.
TEST(ThreadTeamTest, JobsPostedToSleepingWorkersRun) {
  ThreadTeam team;
  for (int i = 0; i < 20; ++i) {
    ExpectEachMemberRanOnce(team, 3);
    std::this_thread::sleep_for(std::chrono::nanoseconds(3 * ThreadTeam::kSpinNanos));
  }
}

// The team grows to the largest count asked for; workers beyond a job's count skip it.
TEST(ThreadTeamTest, MemberCountsMayChangeBetweenJobs) {
  ThreadTeam team;
  const int counts[] = {2, 4, 1, 3, 2, 4, 4, 1, 2};
  for (int round = 0; round < 300; ++round) {
    ExpectEachMemberRanOnce(team, counts[round % 9]);
    if (HasFailure()) return;
  }
}

// The workers' writes are visible to the caller when Run returns.
TEST(ThreadTeamTest, WorkersWritesAreVisibleAfterRun) {
  std::vector<int64_t> data(1 << 16);
  for (int round = 1; round <= 200; ++round) {
    ParallelRanges(static_cast<int64_t>(data.size()), 3, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[static_cast<size_t>(i)] += i;
    });
    int64_t wrong = 0;
    for (size_t i = 0; i < data.size(); ++i) wrong += data[i] != static_cast<int64_t>(i) * round;
    ASSERT_EQ(wrong, 0) << "round " << round;
  }
}

// Each calling thread has its own team; its workers are joined when the thread exits.
TEST(ThreadTeamTest, CallingThreadsHaveTeamsOfTheirOwn) {
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&failures] {
      for (int i = 0; i < 2000; ++i) {
        std::array<std::atomic<int>, 2> member_ran{};
        ParallelRanges(2, 2, [&](int64_t begin, int64_t end) {
          for (int64_t m = begin; m < end; ++m) {
            member_ran[static_cast<size_t>(m)].fetch_add(1);
            if (TeamMember() != m) failures.fetch_add(1);
          }
        });
        if (member_ran[0].load() != 1 || member_ran[1].load() != 1) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace theano_serving::fast
