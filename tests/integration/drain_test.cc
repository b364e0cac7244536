// SIGTERM drain on the real server: requests in flight when the signal arrives all finish OK,
// requests after it are refused with UNAVAILABLE, and the process exits 0 within the drain
// timeout.
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

constexpr int kRequests = 16;
constexpr int kImagesPerRequest = 64;  // the server's default per-request limit
constexpr double kDrainTimeoutS = 30;

TEST(DrainTest, InFlightRequestsFinishNewOnesAreRefused) {
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_EQ(samples.size(), 20u);
  ServerOptions options;
  // 16 x 64 images must fit the batching queue (default 256 images) so none is refused. The
  // batcher holds the first request up to 3 s waiting for a 4096-image batch, so every request is
  // still in flight when SIGTERM arrives, however fast (or loaded) the machine is.
  options.extra_args = {absl::StrCat("--drain_timeout_s=", kDrainTimeoutS),
                        "--max_queue_images=4096", "--max_batch_size=4096",
                        "--max_queue_delay_us=3000000"};
  auto server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();

  std::vector<const Sample*> images;
  for (int i = 0; i < kImagesPerRequest; ++i) {
    images.push_back(&samples[static_cast<size_t>(i % 20)]);
  }
  const v1::ClassifyRequest request = MakeClassifyRequest(kModel, images);

  struct Call {
    grpc::Status status;
    v1::ClassifyResponse response;
  };
  std::vector<Call> calls(kRequests);
  std::vector<std::thread> threads;
  // Joined on every exit path (each call is bounded by its deadline).
  struct Joiner {
    std::vector<std::thread>* threads;
    ~Joiner() {
      for (std::thread& t : *threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{&threads};
  // Each call on its own channel (own connection), as independent clients would be.
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      auto stub = v1::ClassificationService::NewStub((*server)->NewChannel());
      grpc::ClientContext context;
      SetDeadline(&context, absl::Seconds(60));
      // A transient connect failure on a loaded machine must not look like a lost request: wait
      // for the connection (the server is up; this test is about what happens once admitted).
      context.set_wait_for_ready(true);
      calls[static_cast<size_t>(i)].status =
          stub->Classify(&context, request, &calls[static_cast<size_t>(i)].response);
    });
  }

  // SIGTERM once the server reports all of them in flight (theano_serving_inflight_requests).
  double in_flight = 0;
  const bool all_in_flight = WaitFor(absl::Seconds(20), [&] {
    auto text = (*server)->Metrics();
    if (!text.ok()) return false;
    in_flight = SumMetric(ParsePrometheusText(*text), "theano_serving_inflight_requests",
                          {{"api", "classify"}});
    return in_flight >= kRequests;
  });
  ASSERT_TRUE((*server)->SendSignal(SIGTERM).ok());
  const absl::Time signalled = absl::Now();
  EXPECT_TRUE(all_in_flight) << "only " << in_flight << " of " << kRequests
                             << " requests were in flight at SIGTERM (server too fast?)";

  // After the server has started draining, a new request is refused.
  EXPECT_TRUE((*server)->WaitForStderr("draining", absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(300));
  {
    auto stub = v1::ClassificationService::NewStub((*server)->NewChannel());
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    v1::ClassifyResponse response;
    const grpc::Status late =
        stub->Classify(&context, MakeClassifyRequest(kModel, {&samples[0]}), &response);
    EXPECT_EQ(late.error_code(), grpc::StatusCode::UNAVAILABLE) << late.error_message();
  }

  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) {
    const Call& call = calls[static_cast<size_t>(i)];
    SCOPED_TRACE(absl::StrCat("request ", i));
    ASSERT_TRUE(call.status.ok()) << call.status.error_code() << " " << call.status.error_message();
    ASSERT_EQ(call.response.results_size(), kImagesPerRequest);
    for (int j = 0; j < kImagesPerRequest; ++j) {
      EXPECT_EQ(call.response.results(j).classes(0).index(),
                images[static_cast<size_t>(j)]->prediction);
    }
  }

  const std::optional<int> exit = (*server)->WaitExit(absl::Seconds(kDrainTimeoutS + 5));
  EXPECT_TRUE(ExitedCleanly(exit)) << DescribeWaitStatus(exit);
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(kDrainTimeoutS));
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
