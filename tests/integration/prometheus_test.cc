// A real Prometheus (Debian package `prometheus`) scrapes the server's /metrics: the target is up
// and the request counter it stored equals the requests this test made.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// The value of an instant-vector query with one result ("up", "sum(...)"), or an error.
absl::StatusOr<double> Query(int port, const std::string& query_string) {
  auto body = HttpGet(port, "/api/v1/query?query=" + query_string);
  if (!body.ok()) return body.status();
  auto json = ParseJson(*body, "Prometheus query response");
  if (!json.ok()) return json.status();
  if ((*json).value("status", "") != "success") {
    return absl::UnavailableError(absl::StrCat("query failed: ", *body));
  }
  const auto& result = (*json)["data"]["result"];
  if (!result.is_array() || result.size() != 1) {
    return absl::NotFoundError(absl::StrCat("no single sample yet: ", *body));
  }
  // "value": [<unix time>, "<value as text>"]
  return std::stod(result[0]["value"][1].get<std::string>());
}

TEST(PrometheusTest, RealPrometheusScrapesTheRequestCounter) {
  ASSERT_EQ(access(kPrometheus, X_OK), 0)
      << kPrometheus << " missing: apt-get install --no-install-recommends prometheus "
      << "(scripts/install_deps.sh)";
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_EQ(samples.size(), 20u);
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();

  // K requests of one image each, all OK.
  constexpr int kRequests = 7;
  auto stub = v1::ClassificationService::NewStub((*server)->channel());
  for (int i = 0; i < kRequests; ++i) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    v1::ClassifyResponse response;
    grpc::Status status = stub->Classify(
        &context, MakeClassifyRequest(kModel, {&samples[static_cast<size_t>(i)]}), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  TempDir dir;
  auto port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string config = absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: theano_serving\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:",
      (*server)->metrics_port(), "']\n");
  ASSERT_TRUE(WriteFile(dir.File("prometheus.yml"), config).ok());
  auto prometheus = ChildProcess::Start(
      {kPrometheus, "--config.file=" + dir.File("prometheus.yml"),
       "--storage.tsdb.path=" + dir.File("data"),
       absl::StrCat("--web.listen-address=127.0.0.1:", *port), "--log.level=warn"},
      dir.File("prometheus.out"), dir.File("prometheus.err"));
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  absl::StatusOr<double> up = absl::UnknownError("not queried");
  absl::StatusOr<double> count = absl::UnknownError("not queried");
  const bool done = WaitFor(absl::Seconds(40), [&] {
    if (!(*prometheus)->Running()) return true;
    up = Query(*port, "up");
    if (!up.ok() || *up != 1) return false;
    count = Query(*port,
                  "sum(theano_serving_requests_total%7Bapi%3D%22classify%22%2Ccode%3D%22OK%22%7D)");
    return count.ok() && *count == kRequests;
  });
  EXPECT_TRUE((*prometheus)->Running())
      << "prometheus " << DescribeWaitStatus((*prometheus)->WaitExit(absl::ZeroDuration())) << ": "
      << (*prometheus)->Stderr();
  EXPECT_TRUE(done) << "prometheus stderr: " << (*prometheus)->Stderr();
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up, 1);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, kRequests);
  // Stop Prometheus before its data directory goes (TempDir is destroyed after it).
  ASSERT_TRUE((*prometheus)->SendSignal(SIGTERM).ok());
  EXPECT_TRUE((*prometheus)->WaitExit(absl::Seconds(10)).has_value());
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
