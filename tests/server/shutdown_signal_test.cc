// ShutdownSignal (server/shutdown_signal.h): a SIGTERM sent to the process reaches Wait() even when
// it is delivered to a thread that started before the handlers were installed and blocks nothing
// (as OpenBLAS's pool threads do).
#include "server/shutdown_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

TEST(ShutdownSignalTest, ProcessSignalsReachWaitWhicheverThreadTakesThem) {
  // A thread that exists before Install() and blocks no signal.
  absl::Notification stop;
  std::thread bystander([&] { stop.WaitForNotification(); });
  ASSERT_TRUE(ShutdownSignal::Install().ok());
  sigset_t none;
  sigemptyset(&none);
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &none, nullptr), 0);
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);  // process-directed: any unblocked thread may take it
  EXPECT_EQ(ShutdownSignal::Wait(), SIGTERM);
  ASSERT_EQ(kill(getpid(), SIGINT), 0);
  EXPECT_EQ(ShutdownSignal::Wait(), SIGINT);
  stop.Notify();
  bystander.join();
}

}  // namespace
}  // namespace theano_serving
