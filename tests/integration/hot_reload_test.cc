// Model repository polling under load: a new version is picked up and served, a broken one is
// FAILED with the reason while the previous one keeps serving, and a load generator running the
// whole time (theano-serving-cli bench) sees no error.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kName[] = "fashion";
// An op no Theano model format knows; the load error must name it.
constexpr char kBogusOp[] = "theano_bogus_op";

// Copies the embedded model to <repo>/fashion/<version>. The copy is written under a name the
// poller ignores (not an integer) and renamed into place, so a scan never sees half a version.
void InstallVersion(const std::string& repo, int version, bool broken) {
  const fs::path staging = fs::path(repo) / kName / absl::StrCat(".incoming-", version);
  fs::create_directories(staging.parent_path());
  fs::copy(SourceDir() + "/models/fashion_lenet/1", staging, fs::copy_options::recursive);
  if (broken) {
    auto json = ReadFileToString((staging / "model.json").string());
    ASSERT_TRUE(json.ok()) << json.status();
    // The first tanh becomes an unknown op.
    std::string text = *json;
    const size_t at = text.find("\"op\": \"tanh\"");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 12, absl::StrCat("\"op\": \"", kBogusOp, "\""));
    ASSERT_TRUE(WriteFile((staging / "model.json").string(), text).ok());
  }
  fs::rename(staging, fs::path(repo) / kName / absl::StrCat(version));
}

std::map<int64_t, v1::ModelVersionStatus> ListVersions(v1::ClassificationService::Stub* stub) {
  std::map<int64_t, v1::ModelVersionStatus> out;
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  v1::ListModelsResponse response;
  if (!stub->ListModels(&context, v1::ListModelsRequest(), &response).ok()) return out;
  for (const auto& m : response.models()) {
    if (m.name() == kName) out[m.version()] = m;
  }
  return out;
}

TEST(HotReloadTest, NewVersionServedBrokenVersionFailedBenchSeesNoErrors) {
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_EQ(samples.size(), 20u);
  TempDir repo;
  InstallVersion(repo.path(), 1, /*broken=*/false);

  ServerOptions options;
  options.model_repository = repo.path();
  options.extra_args = {"--poll_interval_s=0.2"};
  auto server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::ClassificationService::NewStub((*server)->channel());

  const Sample& boot = samples[0];
  auto classify = [&](v1::ClassifyResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    return stub->Classify(&context, MakeClassifyRequest(kName, {&boot}), response);
  };
  v1::ClassifyResponse response;
  ASSERT_TRUE(classify(&response).ok());
  EXPECT_EQ(response.model_version(), 1);

  // Load: 4 closed-loop workers for 6 s over the sample images.
  TempDir bench_dir;
  std::vector<std::string> argv = {BinDir() + "/theano-serving-cli",
                                   "bench",
                                   "--server",
                                   (*server)->grpc_address(),
                                   "--model",
                                   kName,
                                   "--duration_s",
                                   "6",
                                   "--concurrency",
                                   "4",
                                   "--json"};
  for (const Sample& s : samples) argv.push_back(s.path);
  auto bench = ChildProcess::Start(argv, bench_dir.File("stdout"), bench_dir.File("stderr"));
  ASSERT_TRUE(bench.ok()) << bench.status();
  absl::SleepFor(absl::Milliseconds(700));  // let the load start on version 1

  // Version 2 appears: READY, and "latest" answers from it.
  InstallVersion(repo.path(), 2, /*broken=*/false);
  EXPECT_TRUE(WaitFor(absl::Seconds(15), [&] {
    auto v = ListVersions(stub.get());
    return v.count(2) && v[2].state() == v1::ModelVersionStatus::READY;
  })) << "version 2 never READY";
  EXPECT_TRUE(WaitFor(absl::Seconds(15), [&] {
    v1::ClassifyResponse r;
    return classify(&r).ok() && r.model_version() == 2;
  })) << "Classify never answered from version 2";

  // Version 3 is broken: FAILED with the reason, version 2 keeps serving.
  InstallVersion(repo.path(), 3, /*broken=*/true);
  std::map<int64_t, v1::ModelVersionStatus> versions;
  EXPECT_TRUE(WaitFor(absl::Seconds(15), [&] {
    versions = ListVersions(stub.get());
    return versions.count(3) && versions[3].state() == v1::ModelVersionStatus::FAILED;
  })) << "version 3 never FAILED";
  ASSERT_TRUE(versions.count(3));
  EXPECT_THAT(versions[3].reason(), HasSubstr(kBogusOp));
  ASSERT_TRUE(versions.count(2));
  EXPECT_EQ(versions[2].state(), v1::ModelVersionStatus::READY);
  EXPECT_EQ(versions[2].reason(), "");
  // The default version policy is latest:1, so version 1 has been unloaded.
  EXPECT_FALSE(versions.count(1)) << versions[1].DebugString();

  for (int i = 0; i < 5; ++i) {
    v1::ClassifyResponse r;
    grpc::Status status = classify(&r);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(r.model_version(), 2);
    ASSERT_EQ(r.results_size(), 1);
    EXPECT_EQ(r.results(0).classes(0).index(), boot.prediction);
  }
  // Asking for the broken version by number: UNAVAILABLE, naming the op.
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    v1::ClassifyRequest request = MakeClassifyRequest(kName, {&boot});
    request.set_model_version(3);
    v1::ClassifyResponse r;
    grpc::Status status = stub->Classify(&context, request, &r);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr(kBogusOp));
  }

  const std::optional<int> exit = (*bench)->WaitExit(absl::Seconds(30));
  const std::string out = (*bench)->Stdout();
  EXPECT_TRUE(ExitedCleanly(exit))
      << DescribeWaitStatus(exit) << "\nstdout: " << out << "\nstderr: " << (*bench)->Stderr();
  auto result = ParseJson(out, "bench --json output");
  ASSERT_TRUE(result.ok()) << result.status() << "\n" << out;
  const int64_t requests = (*result)["requests"].get<int64_t>();
  EXPECT_GT(requests, 20) << out;
  EXPECT_EQ((*result)["ok"].get<int64_t>(), requests) << out;
  EXPECT_TRUE((*result)["errors"].empty()) << out;
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
