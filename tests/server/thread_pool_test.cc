// ThreadPool: runs tasks, refuses beyond its queue bound at once, drains in its destructor.
#include "server/thread_pool.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

TEST(ThreadPoolTest, RunsEveryTask) {
  std::atomic<int> sum{0};
  {
    ThreadPool pool(3, 1000);
    for (int i = 1; i <= 100; ++i) {
      ASSERT_TRUE(pool.Schedule([&sum, i] { sum += i; }).ok());
    }
  }  // the destructor waits for all of them
  EXPECT_EQ(sum.load(), 5050);
}

TEST(ThreadPoolTest, SingleThreadRunsInFifoOrder) {
  std::vector<int> order;  // only the pool's one thread writes it
  {
    ThreadPool pool(1, 100);
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(pool.Schedule([&order, i] { order.push_back(i); }).ok());
  }
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(ThreadPoolTest, FullQueueIsRefusedAtOnceAndDestructorDrains) {
  std::atomic<int> ran{0};
  absl::Notification started, release;
  {
    ThreadPool pool(1, 3);
    // Occupy the only thread, so what follows stays queued.
    ASSERT_TRUE(pool.Schedule([&] {
                      started.Notify();
                      release.WaitForNotification();
                      ++ran;
                    })
                    .ok());
    started.WaitForNotification();
    EXPECT_EQ(pool.queued(), 0);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Schedule([&] { ++ran; }).ok());
    EXPECT_EQ(pool.queued(), 3);
    absl::Status full = pool.Schedule([&] { ran += 1000; });
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
    EXPECT_NE(full.message().find("3"), absl::string_view::npos) << full;
    release.Notify();
  }  // destructor: runs the 3 queued tasks, then joins
  EXPECT_EQ(ran.load(), 4);
}

TEST(ThreadPoolTest, NonPositiveThreadCountStillRuns) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(0, 10);
    ASSERT_TRUE(pool.Schedule([&] { ++ran; }).ok());
  }
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace theano_serving
