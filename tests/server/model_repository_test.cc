// ModelRepository on temporary repositories built from the embedded Fashion LeNet
// (models/fashion_lenet/1): <tmp>/fashion/<v> are symlinks to it, broken versions are copies with a
// truncated params.npz.
#include "server/model_repository.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/file_util.h"
#include "core/model_loader.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {
namespace fs = std::filesystem;

const std::string kSource = TS_SOURCE_DIR;
const std::string kModelDir = kSource + "/models/fashion_lenet/1";

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

Tensor<float> Image(int seed) {
  Tensor<float> t(Shape{1, 1, 28, 28});
  for (int64_t i = 0; i < t.size(); ++i)
    t.data()[i] = static_cast<float>((i * 31 + seed) % 97) / 97;
  return t;
}

class ModelRepositoryTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) /
            absl::StrCat("repo_", testing::UnitTest::GetInstance()->current_test_info()->name(),
                         "_", getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "fashion");
  }
  void TearDown() override {
    repository_.reset();
    fs::remove_all(root_);
  }

  std::string VersionDir(int64_t v, const std::string& model = "fashion") const {
    return (root_ / model / std::to_string(v)).string();
  }
  void AddVersion(int64_t v, const std::string& model = "fashion") {
    fs::create_directories(root_ / model);
    fs::create_directory_symlink(kModelDir, VersionDir(v, model));
  }
  // A real folder with model.json and a params.npz cut to 1000 bytes.
  void AddBrokenVersion(int64_t v) {
    fs::create_directories(VersionDir(v));
    WriteAll(VersionDir(v) + "/model.json",
             ReadFileToString(kModelDir + "/model.json").value_or(""));
    WriteAll(VersionDir(v) + "/params.npz",
             ReadFileToString(kModelDir + "/params.npz").value_or("").substr(0, 1000));
  }
  void RepairVersion(int64_t v) {
    WriteAll(VersionDir(v) + "/params.npz",
             ReadFileToString(kModelDir + "/params.npz").value_or(""));
  }
  void RemoveVersion(int64_t v) { fs::remove_all(VersionDir(v)); }

  void Create(const std::string& policy, absl::Duration poll = absl::ZeroDuration()) {
    RepositoryOptions options;
    options.root = root_.string();
    auto p = ParseVersionPolicy(policy);
    ASSERT_TRUE(p.ok()) << p.status();
    options.policy = *p;
    options.poll_interval = poll;
    auto r = ModelRepository::Create(options, [this](const RepositoryEvent& e) {
      absl::MutexLock lock(&mu_);
      events_.push_back(absl::StrCat(e.name, ":", e.version, ":",
                                     e.kind == RepositoryEvent::Kind::kLoaded       ? "loaded"
                                     : e.kind == RepositoryEvent::Kind::kLoadFailed ? "failed"
                                                                                    : "unloaded"));
    });
    ASSERT_TRUE(r.ok()) << r.status();
    repository_ = std::move(*r);
  }

  // "name:version:STATE" for every version in the table.
  std::vector<std::string> States() const {
    std::vector<std::string> out;
    for (const ModelVersionStatus& s : repository_->List()) {
      out.push_back(absl::StrCat(s.name, ":", s.version, ":", ModelStateName(s.state)));
    }
    return out;
  }
  std::vector<std::string> TakeEvents() {
    absl::MutexLock lock(&mu_);
    return std::move(events_);
  }
  int64_t Latest() const {
    auto s = repository_->Get("fashion", 0);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? (*s)->version() : -1;
  }

  fs::path root_;
  std::unique_ptr<ModelRepository> repository_;
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

using Strings = std::vector<std::string>;

TEST(VersionPolicyTest, ParsesTheFourForms) {
  auto p = ParseVersionPolicy("latest");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(p->latest_n, 1);
  p = ParseVersionPolicy(" latest:3 ");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->latest_n, 3);
  p = ParseVersionPolicy("all");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, VersionPolicy::Kind::kAll);
  p = ParseVersionPolicy("specific:3,1,3");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(p->versions, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(VersionPolicyToString(*p), "specific:1,3");
  for (const char* bad : {"", "newest", "latest:0", "latest:x", "specific:", "specific:1,,2",
                          "specific:0", "all:2"}) {
    auto b = ParseVersionPolicy(bad);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(b.status().message().find("latest:N"), absl::string_view::npos) << b.status();
  }
}

TEST(ModelStateTest, Names) {
  EXPECT_STREQ(ModelStateName(ModelState::kLoading), "LOADING");
  EXPECT_STREQ(ModelStateName(ModelState::kReady), "READY");
  EXPECT_STREQ(ModelStateName(ModelState::kUnloading), "UNLOADING");
  EXPECT_STREQ(ModelStateName(ModelState::kFailed), "FAILED");
}

TEST_F(ModelRepositoryTest, MissingRootIsNotFound) {
  RepositoryOptions options;
  options.root = (root_ / "nope").string();
  auto r = ModelRepository::Create(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope"), absl::string_view::npos) << r.status();
}

TEST_F(ModelRepositoryTest, LatestOneLoadsOnlyTheHighest) {
  for (int v : {1, 2, 3}) AddVersion(v);
  Create("latest:1");
  EXPECT_EQ(States(), (Strings{"fashion:3:READY"}));
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:3:loaded"}));
  EXPECT_EQ(Latest(), 3);
  auto one = repository_->Get("fashion", 1);
  EXPECT_EQ(one.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(one.status().message().find("READY versions: 3"), absl::string_view::npos)
      << one.status();
  EXPECT_TRUE(repository_->AnyReady("fashion"));
  EXPECT_FALSE(repository_->AnyReady("other"));
}

TEST_F(ModelRepositoryTest, LatestTwoAllAndSpecific) {
  for (int v : {1, 2, 3}) AddVersion(v);
  Create("latest:2");
  EXPECT_EQ(States(), (Strings{"fashion:2:READY", "fashion:3:READY"}));
  Create("all");
  EXPECT_EQ(States(), (Strings{"fashion:1:READY", "fashion:2:READY", "fashion:3:READY"}));
  EXPECT_EQ(Latest(), 3);
  auto two = repository_->Get("fashion", 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ((*two)->version(), 2);
  EXPECT_EQ((*two)->name(), "fashion");
  EXPECT_EQ((*two)->model().name(), "fashion");  // the folder name wins over model.json's
  Create("specific:1,7");
  EXPECT_EQ(States(), (Strings{"fashion:1:READY"}));
  EXPECT_EQ(Latest(), 1);
}

TEST_F(ModelRepositoryTest, ConfigJsonOverridesPolicyAndBatcher) {
  for (int v : {1, 2}) AddVersion(v);
  WriteAll((root_ / "fashion" / "config.json").string(),
           R"({"version_policy": "all", "max_batch_size": 4, "max_queue_delay_us": 100,
               "max_queue_images": 16, "inference_threads": 2})");
  Create("latest:1");
  EXPECT_EQ(States(), (Strings{"fashion:1:READY", "fashion:2:READY"}));
  auto s = repository_->Get("fashion", 1);
  ASSERT_TRUE(s.ok()) << s.status();
  const BatcherOptions& b = (*s)->batcher().options();
  EXPECT_EQ(b.max_batch_size, 4);
  EXPECT_EQ(b.max_queue_delay, absl::Microseconds(100));
  EXPECT_EQ(b.max_queue_images, 16);
  EXPECT_EQ(b.num_threads, 2);
}

TEST_F(ModelRepositoryTest, BadConfigFailsTheVersionsUntilFixed) {
  AddVersion(1);
  const std::string config = (root_ / "fashion" / "config.json").string();
  WriteAll(config, R"({"max_batch": 4})");
  Create("latest:1");
  EXPECT_EQ(States(), (Strings{"fashion:1:FAILED"}));
  auto s = repository_->Get("fashion");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("unknown key \"max_batch\""), absl::string_view::npos)
      << s.status();
  WriteAll(config, R"({"max_batch_size": 4})");
  repository_->Poll();
  EXPECT_EQ(States(), (Strings{"fashion:1:READY"}));
}

TEST_F(ModelRepositoryTest, NewVersionTakesOverAndRemovedVersionFallsBack) {
  AddVersion(1);
  Create("latest:2");
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:1:loaded"}));
  EXPECT_EQ(Latest(), 1);

  AddVersion(2);
  repository_->Poll();
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:2:loaded"}));
  EXPECT_EQ(States(), (Strings{"fashion:1:READY", "fashion:2:READY"}));
  auto held = repository_->Get("fashion", 0);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ((*held)->version(), 2);

  RemoveVersion(2);
  repository_->Poll();
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:2:unloaded"}));
  EXPECT_EQ(States(), (Strings{"fashion:1:READY"}));
  EXPECT_EQ(Latest(), 1);
  EXPECT_EQ(repository_->Get("fashion", 2).status().code(), absl::StatusCode::kNotFound);

  // The request that still holds version 2 finishes on it: the model and its batcher are alive.
  const std::shared_ptr<const Servable> v2 = *held;
  held = absl::NotFoundError("released");
  auto direct = v2->model().Predict(Image(1));
  ASSERT_TRUE(direct.ok()) << direct.status();
  absl::Notification done;
  absl::StatusOr<AnyTensor> batched = absl::UnknownError("not called");
  BatchTask task;
  task.images = Image(1);
  task.done = [&](absl::StatusOr<AnyTensor> out, const BatchStats&) {
    batched = std::move(out);
    done.Notify();
  };
  ASSERT_TRUE(v2->batcher().Submit(std::move(task)).ok());
  done.WaitForNotification();
  ASSERT_TRUE(batched.ok()) << batched.status();
  EXPECT_EQ(std::get<Tensor<float>>(*batched).values(), direct->values());
}

TEST_F(ModelRepositoryTest, BrokenNewVersionFailsAndThePreviousKeepsServing) {
  for (int v : {1, 2}) AddVersion(v);
  Create("latest:1");
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:2:loaded"}));

  AddBrokenVersion(3);
  repository_->Poll();
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:3:failed"}));
  EXPECT_EQ(States(), (Strings{"fashion:2:READY", "fashion:3:FAILED"}));
  EXPECT_EQ(Latest(), 2);
  const std::vector<ModelVersionStatus> list = repository_->List();
  EXPECT_NE(list.back().reason.find("params.npz"), std::string::npos) << list.back().reason;
  auto three = repository_->Get("fashion", 3);
  EXPECT_EQ(three.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(three.status().message().find("FAILED"), absl::string_view::npos) << three.status();
  EXPECT_NE(three.status().message().find("params.npz"), absl::string_view::npos) << three.status();

  // Unchanged files: not retried.
  repository_->Poll();
  EXPECT_EQ(TakeEvents(), Strings{});
  EXPECT_EQ(States(), (Strings{"fashion:2:READY", "fashion:3:FAILED"}));

  // Repaired: loads, and with latest:1 replaces version 2.
  RepairVersion(3);
  repository_->Poll();
  EXPECT_EQ(TakeEvents(), (Strings{"fashion:3:loaded", "fashion:2:unloaded"}));
  EXPECT_EQ(States(), (Strings{"fashion:3:READY"}));
  EXPECT_EQ(Latest(), 3);
}

TEST_F(ModelRepositoryTest, UnknownModelAndVersionNameWhatExists) {
  AddVersion(1);
  AddVersion(1, "other");
  Create("latest:1");
  auto s = repository_->Get("nope", 0);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("\"nope\""), absl::string_view::npos) << s.status();
  EXPECT_NE(s.status().message().find("fashion, other"), absl::string_view::npos) << s.status();
  s = repository_->Get("fashion", 5);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find("version 5"), absl::string_view::npos) << s.status();
}

TEST_F(ModelRepositoryTest, NonVersionEntriesAreIgnoredAndRemovedModelsUnload) {
  AddVersion(1);
  fs::create_directories(root_ / "fashion" / "samples");
  fs::create_directories(root_ / "fashion" / "0");
  fs::create_directories(root_ / "fashion" / "2x");
  fs::create_directories(root_ / ".hidden" / "1");
  WriteAll((root_ / "README.md").string(), "not a model");
  AddVersion(4, "other");
  Create("all");
  EXPECT_EQ(States(), (Strings{"fashion:1:READY", "other:4:READY"}));
  TakeEvents();
  fs::remove_all(root_ / "other");
  repository_->Poll();
  EXPECT_EQ(States(), (Strings{"fashion:1:READY"}));
  EXPECT_EQ(TakeEvents(), (Strings{"other:4:unloaded"}));
}

TEST_F(ModelRepositoryTest, TheEmbeddedRepositoryLoads) {
  RepositoryOptions options;
  options.root = kSource + "/models";
  auto r = ModelRepository::Create(options);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<ModelVersionStatus> list = (*r)->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "fashion_lenet");
  EXPECT_EQ(list[0].version, 1);
  EXPECT_EQ(list[0].state, ModelState::kReady);
}

TEST_F(ModelRepositoryTest, PollingThreadPicksUpNewVersions) {
  AddVersion(1);
  Create("latest:1", absl::Milliseconds(10));
  repository_->StartPolling();
  AddVersion(2);
  // No speed assertion: wait up to a minute for the background scan.
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (Latest() != 2 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(Latest(), 2);
  repository_.reset();  // stops the thread
}

}  // namespace
}  // namespace theano_serving
