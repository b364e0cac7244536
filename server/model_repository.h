// ModelRepository: the models a server hosts, read from <root>/<model_name>/<version>/ (model
// format v1, docs/MODEL_FORMAT.md), with a version policy, background reloading and per-version
// batchers.
#ifndef THEANO_SERVING_SERVER_MODEL_REPOSITORY_H_
#define THEANO_SERVING_SERVER_MODEL_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "server/batcher.h"

namespace theano_serving {

enum class ModelState { kLoading, kReady, kUnloading, kFailed };

// "LOADING", "READY", "UNLOADING", "FAILED".
const char* ModelStateName(ModelState state);

// Which versions on disk are served (TF Serving's policies).
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t latest_n = 1;           // kLatest: serve the latest_n highest versions that load
  std::vector<int64_t> versions;  // kSpecific: these versions (when present on disk)
};

// "latest" (= "latest:1"), "latest:N" (N >= 1), "all", "specific:V1,V2,..." (V >= 1). Surrounding
// whitespace is ignored. InvalidArgument quoting the text and the accepted forms otherwise.
absl::StatusOr<VersionPolicy> ParseVersionPolicy(absl::string_view text);
// The inverse, for logs: "latest:2", "all", "specific:1,3".
std::string VersionPolicyToString(const VersionPolicy& policy);

struct ModelVersionStatus {
  std::string name;
  int64_t version = 0;
  ModelState state = ModelState::kLoading;
  std::string reason;  // why it FAILED; empty otherwise
};

// One loaded model version: the model and its batcher. Immutable; a shared_ptr keeps it (and its
// batcher) alive while requests use it, after the repository has dropped it. Thread-safe.
class Servable {
 public:
  // Starts the batcher's threads. `on_queue_depth` as in Batcher.
  Servable(std::string name, int64_t version, std::shared_ptr<const Model> model,
           BatcherOptions batcher_options,
           std::function<void(int queued_images)> on_queue_depth = nullptr);

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> model_ptr() const { return model_; }
  Batcher& batcher() const { return *batcher_; }

 private:
  std::string name_;
  int64_t version_;
  std::shared_ptr<const Model> model_;
  // Declared after model_: destroyed first, running what is still queued.
  std::unique_ptr<Batcher> batcher_;
};

struct RepositoryOptions {
  // <root>/<model_name>/<version>/: version folders are positive integers; other entries (files,
  // "samples/", names starting with '.') are ignored.
  std::string root;
  // The default policy; "version_policy" in <root>/<name>/config.json overrides it per model.
  VersionPolicy policy;
  // The default batcher options; config.json's "max_batch_size", "max_queue_delay_us",
  // "max_queue_images" and "inference_threads" override them per model.
  BatcherOptions batcher;
  // Engine and intra-op threads for every model loaded (LoadModel).
  ModelOptions model;
  // Between scans by the StartPolling thread; <= 0: StartPolling does nothing.
  absl::Duration poll_interval = absl::Seconds(2);
  // Optional (an addition to the original contract): every batcher's queue depth, with the model
  // name and version. Called with that batcher's lock held (see Batcher): quick, no calls back.
  std::function<void(const std::string& name, int64_t version, int queued_images)> on_queue_depth;
};

struct RepositoryEvent {
  std::string name;
  int64_t version = 0;
  enum class Kind { kLoaded, kLoadFailed, kUnloaded } kind = Kind::kLoaded;
  absl::Status status;       // the load error for kLoadFailed; OK otherwise
  absl::Duration load_time;  // kLoaded and kLoadFailed: LoadModel + warm-up
};

// Thread-safe. Every load, refusal and unload is logged with one line on stderr.
//
// <root>/<name>/config.json (optional) is a JSON object with any of:
//   "version_policy": "latest:2", "max_batch_size": 8, "max_queue_delay_us": 500,
//   "max_queue_images": 256, "inference_threads": 1
// Unknown keys and bad values refuse the config (logged); a model with a refused config keeps its
// READY versions and loads nothing new until config.json changes.
class ModelRepository {
 public:
  // Scans `options.root` and loads every version the policy selects (LoadModel, then a warm-up
  // Predict of one zero image), blocking. NotFound if root does not exist or is not a directory;
  // InvalidArgument for bad default options. A version that fails to load is FAILED with the
  // reason, which is not an error here. `on_event` (may be empty) is called for every load,
  // failed load and unload, on the thread running Create or Poll, without the repository's lock
  // held (it may call Get, List and AnyReady, not Poll).
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Create(
      RepositoryOptions options, std::function<void(const RepositoryEvent&)> on_event = nullptr);

  // Stops polling. Versions still referenced elsewhere stay alive until released.
  ~ModelRepository();

  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // Starts a background thread calling Poll() every poll_interval until destruction. Does nothing
  // if poll_interval <= 0 or if polling already started.
  void StartPolling();

  // One scan (scans are serialized). Newly selected versions load (LOADING → warm-up → READY, and
  // only then take traffic); then versions no longer on disk or no longer selected go UNLOADING
  // and leave the table (requests holding their Servable finish; its batcher drains when the last
  // reference goes). kLatest selects the latest_n highest versions that are READY or load, so a
  // broken new version is FAILED (reason logged) while the previous READY one keeps serving. A
  // FAILED version is retried only when a file in its folder (or config.json) changes its
  // modification time or size. A missing root changes nothing (logged).
  void Poll();

  // `version` 0: the highest READY version. NotFound naming the model and listing the known ones,
  // or naming the version and listing the READY ones; Unavailable if that version (or, for 0, every
  // version) exists but is not READY, with its state and reason.
  absl::StatusOr<std::shared_ptr<const Servable>> Get(absl::string_view name,
                                                      int64_t version = 0) const;

  // Every version in the table, sorted by name, then version.
  std::vector<ModelVersionStatus> List() const;

  // True if `name` has a READY version.
  bool AnyReady(absl::string_view name) const;

 private:
  // Name, modification time (ns) and size of each file of a version folder and of config.json:
  // a FAILED version is retried when this changes.
  using FileStamp = std::vector<std::tuple<std::string, int64_t, uint64_t>>;
  struct VersionEntry {
    ModelState state = ModelState::kLoading;
    std::string reason;
    std::shared_ptr<const Servable> servable;  // set while READY
    FileStamp stamp;
  };
  struct ModelConfig {
    VersionPolicy policy;
    BatcherOptions batcher;
  };

  ModelRepository(RepositoryOptions options, std::function<void(const RepositoryEvent&)> on_event);

  void PollModel(const std::string& name, const std::string& dir)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_);
  // Loads one version into the table (LOADING, then READY or FAILED); true if READY.
  bool LoadVersion(const std::string& name, int64_t version, const std::string& dir,
                   const ModelConfig& config, FileStamp stamp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_);
  // Takes one version out of the table (UNLOADING, then gone); `why` is logged.
  void RemoveVersion(const std::string& name, int64_t version, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_);
  void Emit(const RepositoryEvent& event);

  const RepositoryOptions options_;
  const std::function<void(const RepositoryEvent&)> on_event_;

  // Serializes scans; held while loading, so Get and List (mu_ only) are never blocked by a load.
  absl::Mutex poll_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The last config.json error logged per model, so a broken config is logged once, not per scan.
  std::map<std::string, std::string> config_errors_ ABSL_GUARDED_BY(poll_mu_);
  bool root_missing_logged_ ABSL_GUARDED_BY(poll_mu_) = false;

  mutable absl::Mutex mu_;
  std::map<std::string, std::map<int64_t, VersionEntry>> models_ ABSL_GUARDED_BY(mu_);
  bool polling_started_ ABSL_GUARDED_BY(mu_) = false;

  absl::Notification stop_;
  std::thread poller_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_MODEL_REPOSITORY_H_
