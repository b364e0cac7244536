#include "server/model_repository.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/json_util.h"
#include "core/model_loader.h"
#include "core/thread_name.h"

namespace theano_serving {
namespace fs = std::filesystem;

namespace {

constexpr char kConfigFile[] = "config.json";

void Log(const std::string& line) { absl::FPrintF(stderr, "theano-serving: %s\n", line); }

// A version folder name: a positive decimal integer ("1", "20"; not "01x", "-1", "0").
bool ParseVersionDir(const std::string& text, int64_t* version) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) return false;
  return absl::SimpleAtoi(text, version) && *version > 0;
}

absl::Status ValidatePolicy(const VersionPolicy& policy) {
  if (policy.kind == VersionPolicy::Kind::kLatest && policy.latest_n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("version_policy latest:N needs N >= 1, got ", policy.latest_n));
  }
  if (policy.kind == VersionPolicy::Kind::kSpecific) {
    if (policy.versions.empty()) {
      return absl::InvalidArgumentError("version_policy specific needs at least one version");
    }
    for (int64_t v : policy.versions) {
      if (v < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("version_policy specific: versions are >= 1, got ", v));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBatcherOptions(const BatcherOptions& b) {
  if (b.max_batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size must be >= 1, got ", b.max_batch_size));
  }
  if (b.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("max_queue_delay must be >= 0, got ",
                                                   absl::FormatDuration(b.max_queue_delay)));
  }
  if (b.max_queue_images < b.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("max_queue_images (", b.max_queue_images,
                                                   ") must be >= max_batch_size (",
                                                   b.max_batch_size, ")"));
  }
  if (b.num_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("inference_threads must be >= 1, got ", b.num_threads));
  }
  return absl::OkStatus();
}

// Reads an integer member of config.json.
absl::StatusOr<int64_t> ConfigInt(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", key, "\" must be an integer, got ", value.dump()));
  }
  return value.get<int64_t>();
}

absl::StatusOr<int> ConfigCount(const nlohmann::json& value, const std::string& key) {
  auto v = ConfigInt(value, key);
  if (!v.ok()) return v.status();
  if (*v < 0 || *v > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", key, "\" = ", *v, " is out of range [0, 2^30]"));
  }
  return static_cast<int>(*v);
}

}  // namespace

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kFailed:
      return "FAILED";
  }
  return "UNKNOWN";
}

absl::StatusOr<VersionPolicy> ParseVersionPolicy(absl::string_view text) {
  const absl::string_view t = absl::StripAsciiWhitespace(text);
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("version_policy \"", text, "\": ", why,
                     " (accepted: \"latest\", \"latest:N\", \"all\", \"specific:V1,V2,...\")"));
  };
  VersionPolicy policy;
  if (t == "latest") return policy;
  if (t == "all") {
    policy.kind = VersionPolicy::Kind::kAll;
    return policy;
  }
  if (absl::StartsWith(t, "latest:")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(t.substr(7), &n) || n < 1) return bad("N must be an integer >= 1");
    policy.latest_n = n;
    return policy;
  }
  if (absl::StartsWith(t, "specific:")) {
    policy.kind = VersionPolicy::Kind::kSpecific;
    for (absl::string_view part : absl::StrSplit(t.substr(9), ',')) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(part, &v) || v < 1) {
        return bad(absl::StrCat("\"", part, "\" is not a version (an integer >= 1)"));
      }
      policy.versions.push_back(v);
    }
    std::sort(policy.versions.begin(), policy.versions.end());
    policy.versions.erase(std::unique(policy.versions.begin(), policy.versions.end()),
                          policy.versions.end());
    return policy;
  }
  return bad("unknown policy");
}

std::string VersionPolicyToString(const VersionPolicy& policy) {
  switch (policy.kind) {
    case VersionPolicy::Kind::kLatest:
      return absl::StrCat("latest:", policy.latest_n);
    case VersionPolicy::Kind::kAll:
      return "all";
    case VersionPolicy::Kind::kSpecific:
      return absl::StrCat("specific:", absl::StrJoin(policy.versions, ","));
  }
  return "?";
}

Servable::Servable(std::string name, int64_t version, std::shared_ptr<const Model> model,
                   BatcherOptions batcher_options,
                   std::function<void(int queued_images)> on_queue_depth)
    : name_(std::move(name)),
      version_(version),
      model_(std::move(model)),
      batcher_(std::make_unique<Batcher>(model_, batcher_options, std::move(on_queue_depth))) {}

ModelRepository::ModelRepository(RepositoryOptions options,
                                 std::function<void(const RepositoryEvent&)> on_event)
    : options_(std::move(options)), on_event_(std::move(on_event)) {}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Create(
    RepositoryOptions options, std::function<void(const RepositoryEvent&)> on_event) {
  std::error_code ec;
  if (options.root.empty() || !fs::is_directory(options.root, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository \"", options.root,
                                            "\" does not exist or is not a directory"));
  }
  if (absl::Status s = ValidatePolicy(options.policy); !s.ok()) return s;
  if (absl::Status s = ValidateBatcherOptions(options.batcher); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("batcher options: ", s.message()));
  }
  std::unique_ptr<ModelRepository> repository(
      new ModelRepository(std::move(options), std::move(on_event)));
  repository->Poll();
  return repository;
}

ModelRepository::~ModelRepository() {
  stop_.Notify();
  if (poller_.joinable()) poller_.join();
}

void ModelRepository::StartPolling() {
  if (options_.poll_interval <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (polling_started_) return;
  polling_started_ = true;
  poller_ = std::thread([this] {
    NameThisThread("repo-poll");
    while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) Poll();
  });
}

void ModelRepository::Emit(const RepositoryEvent& event) {
  if (on_event_) on_event_(event);
}

void ModelRepository::Poll() {
  absl::MutexLock poll_lock(&poll_mu_);
  std::error_code ec;
  std::map<std::string, std::string> on_disk;  // model name → folder
  if (fs::is_directory(options_.root, ec)) {
    for (fs::directory_iterator it(options_.root, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      std::error_code dir_ec;
      if (name.empty() || name[0] == '.' || !it->is_directory(dir_ec)) continue;
      on_disk[name] = it->path().string();
    }
  }
  if (ec || !fs::is_directory(options_.root)) {
    // A vanished or unreadable root is more likely a mount hiccup than a wish to unload everything.
    if (!root_missing_logged_) {
      Log(absl::StrCat("model repository \"", options_.root, "\" cannot be read",
                       ec ? absl::StrCat(" (", ec.message(), ")") : std::string(),
                       "; keeping the loaded versions"));
      root_missing_logged_ = true;
    }
    return;
  }
  root_missing_logged_ = false;

  for (const auto& [name, dir] : on_disk) PollModel(name, dir);

  // Models whose folder is gone.
  std::vector<std::pair<std::string, int64_t>> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, versions] : models_) {
      if (on_disk.count(name)) continue;
      for (const auto& [version, entry] : versions) gone.emplace_back(name, version);
    }
  }
  for (const auto& [name, version] : gone) {
    RemoveVersion(name, version, "the model folder is gone");
  }
}

void ModelRepository::PollModel(const std::string& name, const std::string& dir) {
  // Version folders on disk, highest first.
  std::map<int64_t, std::string, std::greater<int64_t>> versions;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    int64_t v = 0;
    std::error_code dir_ec;
    if (ParseVersionDir(it->path().filename().string(), &v) && it->is_directory(dir_ec)) {
      versions[v] = it->path().string();
    }
  }
  if (ec) {
    Log(absl::StrCat("model ", name, ": cannot list ", dir, " (", ec.message(),
                     "); keeping its loaded versions"));
    return;
  }

  // config.json: its stamp joins every version's stamp, so a fixed config retries FAILED versions.
  const std::string config_path = (fs::path(dir) / kConfigFile).string();
  FileStamp config_stamp;
  ModelConfig config{options_.policy, options_.batcher};
  absl::Status config_status;
  if (fs::exists(config_path, ec)) {
    std::error_code stat_ec;
    const auto mtime = fs::last_write_time(config_path, stat_ec);
    const auto size = fs::file_size(config_path, stat_ec);
    config_stamp.emplace_back(kConfigFile, mtime.time_since_epoch().count(), size);
    config_status = [&]() -> absl::Status {
      auto json = ReadJsonFile(config_path);
      if (!json.ok()) return json.status();
      if (!json->is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(config_path, ": expected a JSON object, got ", json->dump()));
      }
      for (const auto& [key, value] : json->items()) {
        absl::Status s;
        if (key == "version_policy") {
          if (!value.is_string()) {
            s = absl::InvalidArgumentError("\"version_policy\" must be a string");
          } else {
            auto policy = ParseVersionPolicy(value.get<std::string>());
            if (policy.ok()) config.policy = *policy;
            s = policy.status();
          }
        } else if (key == "max_batch_size") {
          auto v = ConfigCount(value, key);
          if (v.ok()) config.batcher.max_batch_size = *v;
          s = v.status();
        } else if (key == "max_queue_delay_us") {
          auto v = ConfigCount(value, key);
          if (v.ok()) config.batcher.max_queue_delay = absl::Microseconds(*v);
          s = v.status();
        } else if (key == "max_queue_images") {
          auto v = ConfigCount(value, key);
          if (v.ok()) config.batcher.max_queue_images = *v;
          s = v.status();
        } else if (key == "inference_threads") {
          auto v = ConfigCount(value, key);
          if (v.ok()) config.batcher.num_threads = *v;
          s = v.status();
        } else {
          s = absl::InvalidArgumentError(absl::StrCat(
              "unknown key \"", key,
              "\" (known: version_policy, max_batch_size, max_queue_delay_us, max_queue_images, "
              "inference_threads)"));
        }
        if (!s.ok())
          return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", s.message()));
      }
      absl::Status s = ValidateBatcherOptions(config.batcher);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", s.message()));
      return absl::OkStatus();
    }();
  }

  const auto stamp_of = [&](const std::string& version_dir) {
    FileStamp stamp;
    std::error_code it_ec;
    for (fs::directory_iterator it(version_dir, it_ec), end; !it_ec && it != end;
         it.increment(it_ec)) {
      std::error_code stat_ec;
      if (!it->is_regular_file(stat_ec)) continue;
      const auto mtime = fs::last_write_time(it->path(), stat_ec);
      const auto size = fs::file_size(it->path(), stat_ec);
      stamp.emplace_back(it->path().filename().string(), mtime.time_since_epoch().count(), size);
    }
    std::sort(stamp.begin(), stamp.end());
    stamp.insert(stamp.end(), config_stamp.begin(), config_stamp.end());
    return stamp;
  };

  // Looks up a version's table entry: its state and whether its stamp equals `stamp`.
  const auto lookup = [&](int64_t v, const FileStamp& stamp, ModelState* state, bool* same) {
    absl::MutexLock lock(&mu_);
    auto m = models_.find(name);
    if (m == models_.end()) return false;
    auto e = m->second.find(v);
    if (e == m->second.end()) return false;
    *state = e->second.state;
    *same = e->second.stamp == stamp;
    return true;
  };

  std::set<int64_t> keep;
  if (!config_status.ok()) {
    auto& logged = config_errors_[name];
    if (logged != config_status.message()) {
      Log(absl::StrCat(
          "model ", name,
          ": config refused, keeping READY versions and loading none: ", config_status.message()));
      logged = std::string(config_status.message());
    }
    // READY versions keep serving; every other version on disk shows the config error.
    for (const auto& [v, version_dir] : versions) {
      keep.insert(v);
      ModelState state;
      bool same = false;
      if (lookup(v, {}, &state, &same) && state == ModelState::kReady) continue;
      absl::MutexLock lock(&mu_);
      VersionEntry& e = models_[name][v];
      e.state = ModelState::kFailed;
      e.reason = std::string(config_status.message());
      e.stamp = stamp_of(version_dir);
    }
  } else {
    config_errors_.erase(name);
    int64_t ready = 0;
    for (const auto& [v, version_dir] : versions) {
      if (config.policy.kind == VersionPolicy::Kind::kLatest && ready >= config.policy.latest_n) {
        break;
      }
      if (config.policy.kind == VersionPolicy::Kind::kSpecific &&
          std::find(config.policy.versions.begin(), config.policy.versions.end(), v) ==
              config.policy.versions.end()) {
        continue;
      }
      keep.insert(v);
      FileStamp stamp = stamp_of(version_dir);
      ModelState state;
      bool same = false;
      if (lookup(v, stamp, &state, &same)) {
        if (state == ModelState::kReady) {
          ++ready;
          continue;
        }
        if (state == ModelState::kFailed && same) continue;  // unchanged since it failed
      }
      if (LoadVersion(name, v, version_dir, config, std::move(stamp))) ++ready;
    }
  }

  // Everything else of this model leaves the table (new versions were loaded first).
  std::vector<int64_t> drop;
  {
    absl::MutexLock lock(&mu_);
    auto m = models_.find(name);
    if (m != models_.end()) {
      for (const auto& [v, entry] : m->second) {
        if (!keep.count(v)) drop.push_back(v);
      }
    }
  }
  for (int64_t v : drop) {
    RemoveVersion(name, v,
                  versions.count(v) ? absl::StrCat("not selected by version_policy ",
                                                   VersionPolicyToString(config.policy))
                                    : "its folder is gone");
  }
}

bool ModelRepository::LoadVersion(const std::string& name, int64_t version, const std::string& dir,
                                  const ModelConfig& config, FileStamp stamp) {
  {
    absl::MutexLock lock(&mu_);
    VersionEntry& e = models_[name][version];
    e.state = ModelState::kLoading;
    e.reason.clear();
    e.servable.reset();
    e.stamp = std::move(stamp);
  }
  const absl::Time start = absl::Now();
  std::shared_ptr<const Servable> servable;
  absl::Status status = [&]() -> absl::Status {
    auto model = LoadModel(dir, name, options_.model);
    if (!model.ok()) return model.status();
    // Warm-up: one zero image, so the first request does not pay for first-touch costs, and a model
    // that cannot run is refused here rather than on traffic.
    auto out = (*model)->Predict(MakeTensor((*model)->dtype(), (*model)->input().BatchShape(1)));
    if (!out.ok()) {
      return absl::Status(out.status().code(),
                          absl::StrCat("warm-up Predict failed: ", out.status().message()));
    }
    std::function<void(int)> depth;
    if (options_.on_queue_depth) {
      depth = [cb = options_.on_queue_depth, name, version](int queued) {
        cb(name, version, queued);
      };
    }
    servable =
        std::make_shared<Servable>(name, version, std::shared_ptr<const Model>(std::move(*model)),
                                   config.batcher, std::move(depth));
    return absl::OkStatus();
  }();
  const absl::Duration load_time = absl::Now() - start;
  {
    absl::MutexLock lock(&mu_);
    VersionEntry& e = models_[name][version];
    e.state = status.ok() ? ModelState::kReady : ModelState::kFailed;
    e.reason = std::string(status.message());
    e.servable = servable;
  }
  if (status.ok()) {
    Log(absl::StrFormat(
        "model %s version %d: READY (loaded in %s; policy %s, max_batch_size %d, "
        "max_queue_delay %s, max_queue_images %d, inference_threads %d; %s engine, "
        "intra_op_threads %d)",
        name, version, absl::FormatDuration(load_time), VersionPolicyToString(config.policy),
        config.batcher.max_batch_size, absl::FormatDuration(config.batcher.max_queue_delay),
        config.batcher.max_queue_images, config.batcher.num_threads,
        EngineName(servable->model().engine()), options_.model.intra_op_threads));
  } else {
    Log(absl::StrFormat("model %s version %d: FAILED to load, not serving it: %s", name, version,
                        status.ToString()));
  }
  Emit(RepositoryEvent{
      name, version,
      status.ok() ? RepositoryEvent::Kind::kLoaded : RepositoryEvent::Kind::kLoadFailed, status,
      load_time});
  return status.ok();
}

void ModelRepository::RemoveVersion(const std::string& name, int64_t version,
                                    const std::string& why) {
  std::shared_ptr<const Servable> servable;
  bool was_ready = false;
  {
    absl::MutexLock lock(&mu_);
    auto m = models_.find(name);
    if (m == models_.end()) return;
    auto e = m->second.find(version);
    if (e == m->second.end()) return;
    was_ready = e->second.state == ModelState::kReady;
    e->second.state = ModelState::kUnloading;
    servable = std::move(e->second.servable);
  }
  // If nothing else holds it, its batcher runs what is queued now; otherwise when the last
  // request holding it lets go.
  servable.reset();
  {
    absl::MutexLock lock(&mu_);
    auto m = models_.find(name);
    if (m != models_.end()) {
      m->second.erase(version);
      if (m->second.empty()) models_.erase(m);
    }
  }
  if (!was_ready) return;  // a FAILED version that is no longer selected: nothing was served
  Log(absl::StrFormat("model %s version %d: unloaded (%s)", name, version, why));
  Emit(RepositoryEvent{name, version, RepositoryEvent::Kind::kUnloaded, absl::OkStatus(),
                       absl::ZeroDuration()});
}

absl::StatusOr<std::shared_ptr<const Servable>> ModelRepository::Get(absl::string_view name,
                                                                     int64_t version) const {
  absl::MutexLock lock(&mu_);
  auto m = models_.find(std::string(name));
  if (m == models_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, versions] : models_) names.push_back(n);
    return absl::NotFoundError(absl::StrCat(
        "model \"", name, "\" is not in the repository; ",
        names.empty() ? "it has no models" : absl::StrCat("models: ", absl::StrJoin(names, ", "))));
  }
  const auto& versions = m->second;
  std::vector<int64_t> ready;
  for (const auto& [v, e] : versions) {
    if (e.state == ModelState::kReady) ready.push_back(v);
  }
  const std::string ready_list = ready.empty() ? "none" : absl::StrJoin(ready, ", ");
  if (version == 0) {
    if (!ready.empty()) return versions.at(ready.back()).servable;
    std::vector<std::string> states;
    for (const auto& [v, e] : versions) {
      states.push_back(absl::StrCat(v, " ", ModelStateName(e.state),
                                    e.reason.empty() ? "" : absl::StrCat(" (", e.reason, ")")));
    }
    return absl::UnavailableError(
        absl::StrCat("model \"", name, "\" has no READY version: ", absl::StrJoin(states, "; ")));
  }
  auto e = versions.find(version);
  if (e == versions.end()) {
    return absl::NotFoundError(absl::StrCat("model \"", name, "\" has no version ", version,
                                            "; READY versions: ", ready_list));
  }
  if (e->second.state != ModelState::kReady) {
    return absl::UnavailableError(absl::StrCat(
        "model \"", name, "\" version ", version, " is ", ModelStateName(e->second.state),
        e->second.reason.empty() ? "" : absl::StrCat(": ", e->second.reason),
        "; READY versions: ", ready_list));
  }
  return e->second.servable;
}

std::vector<ModelVersionStatus> ModelRepository::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModelVersionStatus> out;
  for (const auto& [name, versions] : models_) {
    for (const auto& [v, e] : versions) out.push_back({name, v, e.state, e.reason});
  }
  return out;
}

bool ModelRepository::AnyReady(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto m = models_.find(std::string(name));
  if (m == models_.end()) return false;
  for (const auto& [v, e] : m->second) {
    if (e.state == ModelState::kReady) return true;
  }
  return false;
}

}  // namespace theano_serving
