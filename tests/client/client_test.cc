// Unit tests of the client pieces that need no server: the load generator's bookkeeping, target
// normalisation, the service config and image path collection. (End-to-end runs against a real
// server belong to tests/integration.)
#include <atomic>
#include <filesystem>
#include <fstream>

#include "client/bench.h"
#include "client/channel.h"
#include "client/commands.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace client {
namespace {

TEST(BenchResultTest, NearestRankPercentiles) {
  BenchResult r;
  // 1..100 ms: nearest rank gives p50 = 50, p90 = 90, p99 = 99, max = 100 (by hand).
  for (int i = 1; i <= 100; ++i) r.latencies_ms.push_back(i);
  EXPECT_EQ(r.PercentileMs(50), 50);
  EXPECT_EQ(r.PercentileMs(90), 90);
  EXPECT_EQ(r.PercentileMs(99), 99);
  EXPECT_EQ(r.PercentileMs(100), 100);
  EXPECT_EQ(r.PercentileMs(0), 1);
}

TEST(BenchResultTest, EmptyIsZero) {
  BenchResult r;
  EXPECT_EQ(r.PercentileMs(50), 0);
  EXPECT_EQ(r.ThroughputRps(), 0);
}

TEST(RunBenchTest, CountBoundCountsErrorsByCode) {
  BenchOptions options;
  options.concurrency = 3;
  options.requests = 100;
  options.images_per_request = 4;
  std::atomic<int> calls{0};
  const BenchResult r = RunBench(options, [&](int64_t i) {
    ++calls;
    return i % 10 == 0 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "down") : grpc::Status::OK;
  });
  EXPECT_EQ(calls.load(), 100);
  EXPECT_EQ(r.requests, 100);
  EXPECT_EQ(r.ok, 90);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors.at("UNAVAILABLE"), 10);
  EXPECT_EQ(r.latencies_ms.size(), 90u);
  EXPECT_DOUBLE_EQ(r.ImagesPerS(), r.ThroughputRps() * 4);

  const nlohmann::json j = BenchResultToJson(r);
  for (const char* key : {"requests", "ok", "errors", "throughput_rps", "images_per_s", "p50_ms",
                          "p90_ms", "p99_ms", "max_ms"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["errors"]["UNAVAILABLE"], 10);
}

TEST(RunBenchTest, OpenLoopRateAndDurationBound) {
  BenchOptions options;
  options.concurrency = 2;
  options.duration_s = 0.5;
  options.rate = 40;  // 40 req/s for 0.5 s: requests due at 0, 25, ..., 475 ms = 20.
  const BenchResult r = RunBench(options, [](int64_t) { return grpc::Status::OK; });
  EXPECT_EQ(r.requests, 20);
  EXPECT_GE(r.elapsed_s, 0.45);
}

TEST(ChannelTest, NormalizeTarget) {
  EXPECT_EQ(NormalizeTarget("127.0.0.1:8500"), "127.0.0.1:8500");
  EXPECT_EQ(NormalizeTarget("127.0.0.1:1,127.0.0.1:2"), "ipv4:127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(NormalizeTarget("ipv4:127.0.0.1:1,127.0.0.1:2"), "ipv4:127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(NormalizeTarget("dns:///a:1"), "dns:///a:1");
}

TEST(ChannelTest, ServiceConfigRetriesUnavailable) {
  const nlohmann::json config = nlohmann::json::parse(ServiceConfigJson("round_robin"));
  EXPECT_TRUE(config["loadBalancingConfig"][0].contains("round_robin"));
  const nlohmann::json& retry = config["methodConfig"][0]["retryPolicy"];
  EXPECT_EQ(retry["maxAttempts"], 3);
  EXPECT_EQ(retry["retryableStatusCodes"][0], "UNAVAILABLE");
  EXPECT_EQ(config["methodConfig"][0]["name"].size(), 3u);
}

TEST(ChannelTest, RejectsBadOptions) {
  ChannelOptions options;
  options.lb_policy = "random";
  EXPECT_EQ(MakeChannel(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.lb_policy = "";
  options.tls_cert = "/nonexistent.crt";
  EXPECT_EQ(MakeChannel(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CollectImagePathsTest, FolderIsFilteredAndSorted) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::TempDir()) / "collect_image_paths_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "sub.png");  // A directory with an image name is skipped.
  for (const char* name : {"b.PNG", "a.jpg", "c.txt", "d.webp"}) std::ofstream(dir / name) << "x";
  const auto paths = CollectImagePaths({dir.string()});
  ASSERT_TRUE(paths.ok()) << paths.status();
  ASSERT_EQ(paths->size(), 3u);
  EXPECT_EQ(fs::path((*paths)[0]).filename(), "a.jpg");
  EXPECT_EQ(fs::path((*paths)[1]).filename(), "b.PNG");
  EXPECT_EQ(fs::path((*paths)[2]).filename(), "d.webp");
  EXPECT_EQ(CollectImagePaths({(dir / "missing").string()}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CollectImagePaths({(dir / "sub.png").string()}).status().code(),
            absl::StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace client
}  // namespace theano_serving
