// DrainGate (server/drain_gate.h): admission while open, refusal once closed, and CloseAndWait
// waiting for exactly the requests admitted before the gate closed. Run under ThreadSanitizer by
// scripts/tsan.sh.
#include "server/drain_gate.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

TEST(DrainGateTest, AdmitsUntilClosedThenRefuses) {
  DrainGate gate;
  EXPECT_FALSE(gate.draining());
  ASSERT_TRUE(gate.Enter());
  gate.Exit();
  EXPECT_EQ(gate.CloseAndWait(absl::Seconds(1)), 0);
  EXPECT_TRUE(gate.draining());
  EXPECT_FALSE(gate.Enter());
  EXPECT_EQ(gate.admitted(), 1);
  EXPECT_EQ(gate.refused(), 1);
}

TEST(DrainGateTest, CloseAndWaitReturnsWhenTheLastAdmittedRequestExits) {
  DrainGate gate;
  ASSERT_TRUE(gate.Enter());
  ASSERT_TRUE(gate.Enter());
  std::atomic<bool> exited{false};
  absl::Notification closing;
  std::thread worker([&] {
    // Wait until the main thread is closing (draining() is true), then finish both requests.
    while (!gate.draining()) absl::SleepFor(absl::Milliseconds(1));
    closing.Notify();
    absl::SleepFor(absl::Milliseconds(20));
    gate.Exit();
    exited = true;
    gate.Exit();
  });
  EXPECT_EQ(gate.CloseAndWait(absl::Seconds(30)), 0);
  EXPECT_TRUE(exited.load());
  EXPECT_TRUE(closing.HasBeenNotified());
  worker.join();
}

TEST(DrainGateTest, CloseAndWaitGivesUpAfterTheTimeoutWithTheCountLeft) {
  DrainGate gate;
  ASSERT_TRUE(gate.Enter());
  const absl::Time start = absl::Now();
  EXPECT_EQ(gate.CloseAndWait(absl::Milliseconds(50)), 1);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  gate.Exit();
}

// Many threads entering and exiting while another closes the gate: every Enter that succeeded is
// waited for, and no Enter succeeds after CloseAndWait returned.
TEST(DrainGateTest, ConcurrentRequestsDuringClose) {
  DrainGate gate;
  constexpr int kThreads = 8;
  std::atomic<int> in_flight{0};
  std::atomic<bool> closed{false};
  std::atomic<int> admitted_after_close{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 2000; ++n) {
        if (!gate.Enter()) continue;
        if (closed.load()) ++admitted_after_close;
        ++in_flight;
        std::this_thread::yield();
        --in_flight;
        gate.Exit();
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(gate.CloseAndWait(absl::Seconds(30)), 0);
  closed = true;
  EXPECT_EQ(in_flight.load(), 0);
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted_after_close.load(), 0);
}

}  // namespace
}  // namespace theano_serving
