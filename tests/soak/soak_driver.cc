// Bounded soak with faults against the real server (issue 6). Starts build/bin/theano-serving on
// 127.0.0.1 (port 0) with a private model repository (a copy of models/fashion_lenet/1), then for
// --duration_s drives it at full load from --clients threads with a mix of
//   normal Classify / v2 ModelInfer calls       expected: OK
//   calls with a 1-3 ms deadline                expected: OK or DEADLINE_EXCEEDED
//   calls cancelled 0-3 ms after they start     expected: OK or CANCELLED
//   16-image bursts against --max_queue_images  expected: OK or RESOURCE_EXHAUSTED
// while a reloader thread hot-adds a new model version (copy in + rename) every --reload_s, every
// third time drops a broken version instead, and deletes old versions. A sampler reads the server's
// VmRSS, thread count (/proc/PID/task) and open fds (/proc/PID/fd) every second. Finally it keeps
// normal load running from two kinds of clients — half with client-side health checking, half
// plain — sends SIGTERM, and checks that no accepted request is lost: every call succeeds or is
// refused (UNAVAILABLE / RESOURCE_EXHAUSTED: not accepted), except that a plain client's call that
// gRPC read but never handed to a handler when it shut down may end CANCELLED — allowed only when
// the server reports 0 admitted requests left in flight — and that the server exits 0.
//
// Prints a report (Markdown) and exits 1 on any unexpected status, a server-side
// RESOURCE_EXHAUSTED p99 (handler → answer, from /metrics) above --max_reject_ms, a thread or fd
// leak (the server's own "ts-" threads above their start count, or gRPC's and the exposer's above
// theirs + --max_other_thread_growth), RSS growth above --max_rss_growth_mb, a lost request or an
// unclean exit. Usage
// (tests/soak/run_soak.sh wraps it; ctest runs it as soak_faults_and_sigterm, label soak):
//   build/bin/soak_driver --duration_s=180 --clients=8 [--report=FILE]
#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/thread_name.h"
#include "grpcpp/grpcpp.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/grpc_status.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

namespace fs = std::filesystem;

struct Options {
  double duration_s = 180;
  int clients = 8;
  double reload_s = 10;
  int max_queue_images = 16;
  double max_reject_ms = 5;
  double max_rss_growth_mb = 64;
  int max_other_thread_growth = 8;
  double sigterm_load_s = 3;
  std::string report;
};

bool ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = absl::StrCat("--", name, "=");
      return absl::StartsWith(a, prefix) ? argv[i] + prefix.size() : nullptr;
    };
    const char* v;
    if ((v = value("duration_s"))) {
      if (!absl::SimpleAtod(v, &o->duration_s)) return false;
    } else if ((v = value("clients"))) {
      if (!absl::SimpleAtoi(v, &o->clients)) return false;
    } else if ((v = value("reload_s"))) {
      if (!absl::SimpleAtod(v, &o->reload_s)) return false;
    } else if ((v = value("max_queue_images"))) {
      if (!absl::SimpleAtoi(v, &o->max_queue_images)) return false;
    } else if ((v = value("max_reject_ms"))) {
      if (!absl::SimpleAtod(v, &o->max_reject_ms)) return false;
    } else if ((v = value("max_rss_growth_mb"))) {
      if (!absl::SimpleAtod(v, &o->max_rss_growth_mb)) return false;
    } else if ((v = value("max_other_thread_growth"))) {
      if (!absl::SimpleAtoi(v, &o->max_other_thread_growth)) return false;
    } else if ((v = value("report"))) {
      o->report = v;
    } else {
      std::cerr << "soak_driver: unknown flag " << a << std::endl;
      return false;
    }
  }
  return o->duration_s > 0 && o->clients > 0;
}

// The theano-serving child of this process (ServerProcess spawns it; setpriv execs in place).
pid_t FindServerPid() {
  for (const auto& e : fs::directory_iterator("/proc")) {
    pid_t pid;
    if (!absl::SimpleAtoi(e.path().filename().string(), &pid)) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos || line.find("(theano-serving)") == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == getpid()) return pid;
  }
  return -1;
}

struct ProcSample {
  double seconds = 0;
  int64_t rss_kb = 0;
  int threads = 0;
  int fds = 0;
  std::map<std::string, int> thread_names;  // /proc/PID/task/*/comm → how many threads bear it
  // Threads the server named itself (core/thread_name.h: batchers, their teams, the decode pool,
  // the repository poller); the others are gRPC's and the metrics exposer's.
  int own_threads() const {
    int n = 0;
    for (const auto& [name, count] : thread_names) {
      if (absl::StartsWith(name, kThreadNamePrefix)) n += count;
    }
    return n;
  }
};

int CountEntries(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

ProcSample ReadProc(pid_t pid, double seconds) {
  ProcSample s;
  s.seconds = seconds;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) s.rss_kb = std::atoll(line.c_str() + 6);
  }
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  s.threads = CountEntries(task_dir);
  if (DIR* d = opendir(task_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string name;
      std::getline(std::ifstream(task_dir + "/" + e->d_name + "/comm"), name);
      ++s.thread_names[name];
    }
    closedir(d);
  }
  s.fds = CountEntries("/proc/" + std::to_string(pid) + "/fd");
  return s;
}

// Outcome counters by (kind, code) and latencies.
class Stats {
 public:
  void Record(const std::string& kind, grpc::StatusCode code, double ms, bool expected,
              const std::string& message) {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[{kind, code}]++;
    if (code == grpc::StatusCode::OK && (kind == "classify" || kind == "v2_infer")) {
      ok_latency_ms_.push_back(ms);
    }
    // A "cancelled" call's time includes the 0-3 ms the client sleeps before cancelling, so it
    // says nothing about how fast a refusal is.
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED && kind != "cancelled") {
      reject_latency_ms_.push_back(ms);
      reject_latency_by_kind_ms_[kind].push_back(ms);
    }
    if (!expected) {
      ++unexpected_;
      if (unexpected_messages_.size() < 20) {
        unexpected_messages_.push_back(absl::StrCat(kind, ": code ", code, ": ", message));
      }
    }
  }
  int64_t unexpected() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unexpected_;
  }
  std::map<std::pair<std::string, grpc::StatusCode>, int64_t> counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }
  std::vector<double> ok_latency() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ok_latency_ms_;
  }
  std::vector<double> reject_latency() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reject_latency_ms_;
  }
  std::map<std::string, std::vector<double>> reject_latency_by_kind() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reject_latency_by_kind_ms_;
  }
  std::vector<std::string> unexpected_messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return unexpected_messages_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, grpc::StatusCode>, int64_t> counts_;
  std::vector<double> ok_latency_ms_, reject_latency_ms_;
  std::map<std::string, std::vector<double>> reject_latency_by_kind_ms_;
  int64_t unexpected_ = 0;
  std::vector<std::string> unexpected_messages_;
};

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string first;
  f >> first;
  return first;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// "INVALID_ARGUMENT": how the report names a code.
std::string CodeName(grpc::StatusCode code) { return absl::StatusCodeToString(FromGrpcCode(code)); }

// Quantiles of a Prometheus histogram, as bucket upper bounds in seconds (+Inf = infinity).
struct HistogramQuantiles {
  int64_t count = 0;
  double p50 = 0, p99 = 0, max = 0;
};

// theano_serving_request_error_duration_seconds for code RESOURCE_EXHAUSTED, summed over APIs and
// reasons.
HistogramQuantiles RejectQuantiles(const std::string& metrics) {
  std::map<double, double> cumulative;  // le → count (cumulative)
  std::istringstream in(metrics);
  std::string line;
  const std::string prefix = "theano_serving_request_error_duration_seconds_bucket{";
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, prefix) ||
        !absl::StrContains(line, "code=\"RESOURCE_EXHAUSTED\"")) {
      continue;
    }
    const size_t le = line.find("le=\"");
    const size_t close = line.find("\"}", le);
    if (le == std::string::npos || close == std::string::npos) continue;
    const std::string bound = line.substr(le + 4, close - le - 4);
    double b = std::numeric_limits<double>::infinity(), n = 0;
    if (bound != "+Inf" && !absl::SimpleAtod(bound, &b)) continue;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(close + 2)), &n)) continue;
    cumulative[b] += n;
  }
  HistogramQuantiles q;
  if (cumulative.empty()) return q;
  const double total = cumulative.rbegin()->second;
  q.count = static_cast<int64_t>(total);
  auto quantile = [&](double p) {
    for (const auto& [bound, n] : cumulative) {
      if (n >= p * total) return bound;
    }
    return std::numeric_limits<double>::infinity();
  };
  q.p50 = quantile(0.5);
  q.p99 = quantile(0.99);
  q.max = quantile(1.0);
  return q;
}

std::string BucketText(double seconds) {
  if (std::isinf(seconds)) return "> 10000";
  return absl::StrFormat("≤ %g", seconds * 1000);
}

class Driver {
 public:
  Driver(const Options& options, const ServerProcess& server, std::vector<Sample> samples)
      : options_(options), server_(server), samples_(std::move(samples)) {}

  // One worker: a private channel and a loop of mixed calls until `stop`.
  void Worker(int id, const std::atomic<bool>& stop, bool faults, Stats* stats,
              bool health_checked = false) {
    auto channel = health_checked ? HealthCheckedChannel() : server_.NewChannel();
    auto classify = v1::ClassificationService::NewStub(channel);
    auto infer = inference::GRPCInferenceService::NewStub(channel);
    std::mt19937 rng(1000 + id);
    while (!stop.load()) {
      const int dice = static_cast<int>(rng() % 100);
      if (!faults || dice < 55) {
        if (rng() % 3 == 0) {
          Call(infer.get(), stats, "v2_infer", 10000, -1, 1 + rng() % 4, {grpc::StatusCode::OK});
        } else {
          Call(classify.get(), stats, "classify", 10000, -1, 1 + rng() % 4, {grpc::StatusCode::OK},
               &rng);
        }
      } else if (dice < 70) {
        Call(classify.get(), stats, "short_deadline", 1 + rng() % 3, -1, 1 + rng() % 4,
             {grpc::StatusCode::OK, grpc::StatusCode::DEADLINE_EXCEEDED}, &rng);
      } else if (dice < 85) {
        Call(classify.get(), stats, "cancelled", 10000, static_cast<int>(rng() % 3000),
             1 + rng() % 4, {grpc::StatusCode::OK, grpc::StatusCode::CANCELLED}, &rng);
      } else {
        // Bursts: more images than the queue holds with anything else queued.
        if (rng() % 2 == 0) {
          Call(infer.get(), stats, "burst_v2", 10000, -1, options_.max_queue_images,
               {grpc::StatusCode::OK, grpc::StatusCode::RESOURCE_EXHAUSTED});
        } else {
          Call(classify.get(), stats, "burst_classify", 10000, -1, options_.max_queue_images,
               {grpc::StatusCode::OK, grpc::StatusCode::RESOURCE_EXHAUSTED}, &rng);
        }
      }
    }
  }

  // A channel as a well-behaved production client makes it: client-side health checking
  // (grpc.health.v1 Watch on ""), so the channel stops sending to a server whose health says
  // NOT_SERVING (calls fail fast with UNAVAILABLE in the client instead).
  std::shared_ptr<grpc::Channel> HealthCheckedChannel() const {
    grpc::ChannelArguments args;
    args.SetServiceConfigJSON(
        R"({"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}})");
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel(server_.grpc_address(), grpc::InsecureChannelCredentials(),
                                     args);
  }

  void Call(v1::ClassificationService::Stub* stub, Stats* stats, const std::string& kind,
            int deadline_ms, int cancel_after_us, size_t images,
            std::vector<grpc::StatusCode> expected, std::mt19937* rng) {
    v1::ClassifyRequest request;
    request.set_model_name(kModel);
    for (size_t i = 0; i < images; ++i) {
      request.add_images()->set_data(samples_[((*rng)() % samples_.size())].png);
    }
    v1::ClassifyResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, absl::Milliseconds(deadline_ms));
    Finish(stats, kind, expected, [&] {
      if (cancel_after_us < 0) return stub->Classify(&context, request, &response);
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      grpc::Status status;
      stub->async()->Classify(&context, &request, &response, [&](grpc::Status s) {
        std::lock_guard<std::mutex> lock(mu);
        status = std::move(s);
        done = true;
        cv.notify_one();
      });
      std::this_thread::sleep_for(std::chrono::microseconds(cancel_after_us));
      context.TryCancel();
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done; });
      return status;
    });
  }

  void Call(inference::GRPCInferenceService::Stub* stub, Stats* stats, const std::string& kind,
            int deadline_ms, int /*cancel_after_us*/, size_t images,
            std::vector<grpc::StatusCode> expected) {
    inference::ModelInferRequest request;
    request.set_model_name(kModel);
    auto* in = request.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    for (int64_t d : {static_cast<int64_t>(images), int64_t{1}, int64_t{28}, int64_t{28}}) {
      in->add_shape(d);
    }
    request.add_raw_input_contents()->assign(images * 784 * sizeof(float), '\0');
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    SetDeadline(&context, absl::Milliseconds(deadline_ms));
    Finish(stats, kind, expected, [&] { return stub->ModelInfer(&context, request, &response); });
  }

  template <typename F>
  void Finish(Stats* stats, const std::string& kind, const std::vector<grpc::StatusCode>& expected,
              F call) {
    const auto start = std::chrono::steady_clock::now();
    const grpc::Status s = call();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    // Queue overload is induced for everyone: any call may be refused with RESOURCE_EXHAUSTED.
    const bool ok = s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                    std::find(expected.begin(), expected.end(), s.error_code()) != expected.end();
    stats->Record(kind, s.error_code(), ms, ok, s.error_message());
  }

 private:
  const Options& options_;
  const ServerProcess& server_;
  std::vector<Sample> samples_;
};

void CopyVersion(const fs::path& from, const fs::path& model_dir, int64_t version) {
  const fs::path tmp = model_dir / absl::StrCat(".incoming-", version);
  fs::create_directories(tmp);
  for (const auto& e : fs::directory_iterator(from)) {
    fs::copy_file(e.path(), tmp / e.path().filename(), fs::copy_options::overwrite_existing);
    fs::permissions(tmp / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::rename(tmp, model_dir / std::to_string(version));  // appears atomically
}

int Run(const Options& options) {
  const std::vector<Sample> samples = LoadSamples();
  if (samples.empty()) return 2;
  TempDir repo;
  const fs::path model_dir = fs::path(repo.path()) / kModel;
  const fs::path source = fs::path(SourceDir()) / "models" / kModel / "1";
  fs::create_directories(model_dir);
  CopyVersion(source, model_dir, 1);

  ServerOptions server_options;
  server_options.model_repository = repo.path();
  server_options.extra_args = {"--poll_interval_s=0.5",
                               absl::StrCat("--max_queue_images=", options.max_queue_images),
                               "--max_batch_size=8", "--drain_timeout_s=10"};
  auto server = ServerProcess::Start(server_options);
  if (!server.ok()) {
    std::cerr << "soak_driver: " << server.status() << std::endl;
    return 2;
  }
  const pid_t pid = FindServerPid();
  if (pid < 0) {
    std::cerr << "soak_driver: cannot find the server's pid" << std::endl;
    return 2;
  }
  Driver driver(options, **server, samples);
  Stats stats, warmup_stats, term_stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto now_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  // Warm-up (allocator arenas, gRPC threads, batchers) before the baseline sample.
  {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < options.clients; ++i) {
      threads.emplace_back([&, i] { driver.Worker(100 + i, stop, true, &warmup_stats); });
    }
    std::this_thread::sleep_for(std::chrono::seconds(5));
    stop = true;
    for (auto& t : threads) t.join();
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const ProcSample start = ReadProc(pid, now_s());
  const std::string start_load = LoadAverage();

  // The soak.
  std::vector<ProcSample> samples_over_time;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < options.clients; ++i) {
    threads.emplace_back([&, i] { driver.Worker(i, stop, true, &stats); });
  }
  int64_t next_version = 2, reloads = 0, broken = 0;
  std::thread reloader([&] {
    int cycle = 0;
    while (!stop.load()) {
      for (int i = 0; i < static_cast<int>(options.reload_s * 10) && !stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (stop.load()) break;
      ++cycle;
      const int64_t v = next_version++;
      if (cycle % 3 == 0) {
        // A broken version: unparsable model.json next to good parameters.
        const fs::path tmp = model_dir / absl::StrCat(".incoming-", v);
        fs::create_directories(tmp);
        std::ofstream(tmp / "model.json") << "{\"input\": {\"shape\": [1, 28, 28]}, \"layers\": [";
        fs::copy_file(source / "params.npz", tmp / "params.npz");
        fs::rename(tmp, model_dir / std::to_string(v));
        ++broken;
      } else {
        CopyVersion(source, model_dir, v);
        ++reloads;
      }
      // Keep the newest three version folders (the others are unloaded, then deleted).
      std::vector<int64_t> versions;
      for (const auto& e : fs::directory_iterator(model_dir)) {
        int64_t n;
        if (absl::SimpleAtoi(e.path().filename().string(), &n)) versions.push_back(n);
      }
      std::sort(versions.begin(), versions.end());
      for (size_t i = 0; i + 3 < versions.size(); ++i) {
        fs::remove_all(model_dir / std::to_string(versions[i]));
      }
    }
  });
  const double end_s = now_s() + options.duration_s;
  while (now_s() < end_s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    samples_over_time.push_back(ReadProc(pid, now_s()));
  }
  stop = true;
  for (auto& t : threads) t.join();
  reloader.join();
  // Let the last reload settle and idle threads retire before the end sample: a version unloaded
  // near the end drains its in-flight requests before its batcher threads exit, which on a loaded
  // 2-core machine can take seconds. A leak keeps them; a slow drain lets them go within 20 s.
  ProcSample end = ReadProc(pid, now_s());
  for (int i = 0; i < 80 && end.own_threads() > start.own_threads(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    end = ReadProc(pid, now_s());
  }
  int64_t max_rss = start.rss_kb;
  for (const auto& s : samples_over_time) max_rss = std::max(max_rss, s.rss_kb);

  // How long the server took to refuse, from its own histogram (handler start → answer handed to
  // gRPC): the client's figure adds its own scheduling and the transport on 2 shared cores.
  const absl::StatusOr<std::string> metrics_text = (*server)->Metrics();
  const HistogramQuantiles server_reject =
      metrics_text.ok() ? RejectQuantiles(*metrics_text) : HistogramQuantiles{};

  // SIGTERM under load: every call made after it either succeeds or is refused (UNAVAILABLE).
  // Half the clients check health (they stop sending once the server says NOT_SERVING), half do
  // not (they keep sending until the transport closes).
  std::atomic<bool> term_stop{false};
  std::vector<std::thread> term_threads;
  Stats term_plain_stats;
  for (int i = 0; i < options.clients; ++i) {
    const bool health_checked = i % 2 == 0;
    term_threads.emplace_back([&, i, health_checked] {
      driver.Worker(200 + i, term_stop, false, health_checked ? &term_stats : &term_plain_stats,
                    health_checked);
    });
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<int64_t>(options.sigterm_load_s * 1000)));
  const auto term_counts_before = term_stats.counts();
  const auto term_plain_before = term_plain_stats.counts();
  (void)(*server)->SendSignal(SIGTERM);
  const std::optional<int> exit_status = (*server)->WaitExit(absl::Seconds(30));
  term_stop = true;
  for (auto& t : term_threads) t.join();
  // The server's own account: requests its handlers admitted, refused while draining, and left
  // in flight when gRPC shut down ("0 left": every admitted request was answered first).
  const std::string stderr_text = (*server)->Stderr();
  const size_t drained_at = stderr_text.find("theano-serving: drained: ");
  const std::string drained_line =
      drained_at == std::string::npos
          ? ""
          : stderr_text.substr(drained_at, stderr_text.find('\n', drained_at) - drained_at);
  const bool none_left = absl::StrContains(drained_line, " 0 left in flight");
  // Health-checking clients: OK, or refused (UNAVAILABLE from the gate or from their own channel
  // once health said NOT_SERVING, RESOURCE_EXHAUSTED); anything else is lost. Plain clients: the
  // same, except that a call gRPC read but had not handed to a handler when Shutdown began is
  // cancelled by gRPC (CANCELLED, never admitted: the server reports 0 left in flight); they
  // count as cut at the transport, safe to retry.
  int64_t term_ok = 0, term_refused = 0, term_lost = 0, term_cut = 0;
  for (const Stats* st : {&term_stats, &term_plain_stats}) {
    for (const auto& [key, n] : st->counts()) {
      if (key.second == grpc::StatusCode::OK) {
        term_ok += n;
      } else if (key.second == grpc::StatusCode::UNAVAILABLE ||
                 key.second == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        term_refused += n;  // refused at once, never accepted
      } else if (st == &term_plain_stats && key.second == grpc::StatusCode::CANCELLED &&
                 none_left) {
        term_cut += n;
      } else {
        term_lost += n;
      }
    }
  }
  int64_t ok_before = 0;
  for (const auto& [key, n] : term_counts_before) {
    if (key.second == grpc::StatusCode::OK) ok_before += n;
  }
  for (const auto& [key, n] : term_plain_before) {
    if (key.second == grpc::StatusCode::OK) ok_before += n;
  }

  // Report.
  std::ostringstream r;
  const auto counts = stats.counts();
  int64_t total = 0;
  std::map<std::string, int64_t> by_code;
  for (const auto& [key, n] : counts) {
    total += n;
    by_code[CodeName(key.second)] += n;
  }
  const auto ok_lat = stats.ok_latency();
  const auto rej_lat = stats.reject_latency();
  r << absl::StrFormat(
      "Soak: %.0f s, %d clients, --max_queue_images=%d, %d hot reloads, %d broken "
      "versions dropped in\n\n",
      options.duration_s, options.clients, options.max_queue_images, reloads, broken);
  r << "| kind | code | requests |\n|---|---|---:|\n";
  for (const auto& [key, n] : counts) {
    r << "| " << key.first << " | " << CodeName(key.second) << " | " << n << " |\n";
  }
  r << "\n| figure | value |\n|---|---:|\n";
  r << "| requests | " << total << " (" << absl::StrFormat("%.0f", total / options.duration_s)
    << "/s) |\n";
  for (const auto& [code, n] : by_code) r << "| " << code << " | " << n << " |\n";
  r << "| unexpected statuses | " << stats.unexpected() << " |\n";
  r << absl::StrFormat("| OK latency p50 / p99 / max (ms) | %.2f / %.2f / %.2f |\n",
                       Percentile(ok_lat, 0.5), Percentile(ok_lat, 0.99), Percentile(ok_lat, 1.0));
  r << absl::StrFormat("| RESOURCE_EXHAUSTED latency p50 / p99 / max (ms) | %.2f / %.2f / %.2f |\n",
                       Percentile(rej_lat, 0.5), Percentile(rej_lat, 0.99),
                       Percentile(rej_lat, 1.0));
  r << absl::StrFormat("| VmRSS start / end / max (MiB) | %.1f / %.1f / %.1f (growth %+.1f) |\n",
                       start.rss_kb / 1024.0, end.rss_kb / 1024.0, max_rss / 1024.0,
                       (end.rss_kb - start.rss_kb) / 1024.0);
  if (!samples_over_time.empty()) {
    r << "| VmRSS at 25 / 50 / 75 / 100 % of the run (MiB) |";
    for (int q = 1; q <= 4; ++q) {
      const size_t i = std::min(samples_over_time.size() - 1, samples_over_time.size() * q / 4);
      r << absl::StrFormat(" %.1f", samples_over_time[i].rss_kb / 1024.0);
    }
    r << " |\n";
  }
  r << "| threads start / end (the server's own: start / end) | " << start.threads << " / "
    << end.threads << " (" << start.own_threads() << " / " << end.own_threads() << ") |\n";
  r << "| threads by name, start → end |";
  std::map<std::string, std::pair<int, int>> by_name;
  for (const auto& [name, n] : start.thread_names) by_name[name].first = n;
  for (const auto& [name, n] : end.thread_names) by_name[name].second = n;
  for (const auto& [name, n] : by_name) r << " " << name << " " << n.first << "→" << n.second;
  r << " |\n";
  r << "| open fds start / end | " << start.fds << " / " << end.fds << " |\n";
  for (const auto& [kind, v] : stats.reject_latency_by_kind()) {
    r << absl::StrFormat(
        "| RESOURCE_EXHAUSTED latency, %s, p50 / p99 / max (ms) | %.2f / %.2f / %.2f |\n", kind,
        Percentile(v, 0.5), Percentile(v, 0.99), Percentile(v, 1.0));
  }
  r << "| load average (1 min) at start / end | " << start_load << " / " << LoadAverage() << " |\n";
  r << absl::StrFormat(
      "| RESOURCE_EXHAUSTED server-side (handler → answer), count / p50 / p99 / max (ms, bucket "
      "upper bounds) | %d / %s / %s / %s |\n",
      server_reject.count, BucketText(server_reject.p50), BucketText(server_reject.p99),
      BucketText(server_reject.max));
  r << "| SIGTERM under load: OK after signal / refused (UNAVAILABLE, RESOURCE_EXHAUSTED) / "
       "cut at the transport (CANCELLED, never admitted) / lost | "
    << term_ok - ok_before << " / " << term_refused << " / " << term_cut << " / " << term_lost
    << " |\n";
  r << "| server's drain report | " << drained_line << " |\n";
  r << "| server exit | " << DescribeWaitStatus(exit_status) << " |\n";
  for (const auto& m : stats.unexpected_messages()) r << "\nunexpected: " << m;
  for (const Stats* st : {&term_stats, &term_plain_stats}) {
    for (const auto& [key, n] : st->counts()) {
      if (key.second != grpc::StatusCode::OK && key.second != grpc::StatusCode::UNAVAILABLE &&
          key.second != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        r << "\nat SIGTERM, " << (st == &term_stats ? "health-checking" : "plain")
          << " clients: " << key.first << " " << CodeName(key.second) << " x" << n;
      }
    }
  }
  std::cout << r.str() << std::endl;
  if (!options.report.empty()) std::ofstream(options.report) << r.str();

  std::vector<std::string> failures;
  if (stats.unexpected() > 0) failures.push_back("unexpected statuses");
  // "Immediate": the server refuses overload without waiting for anything (no queueing, no
  // decode, no inference: InferenceRunner checks the batch queue before decoding, and a request
  // is queued whole or refused whole). Measured where the server decides: p99 of its handling
  // time for RESOURCE_EXHAUSTED at most --max_reject_ms. The client's figure is reported: on a
  // shared 2-core machine it adds the client's own thread scheduling and the transport.
  if (server_reject.count == 0) {
    failures.push_back("no server-side RESOURCE_EXHAUSTED latency (overload not induced?)");
  } else if (server_reject.p99 > options.max_reject_ms / 1000.0) {
    failures.push_back("server-side RESOURCE_EXHAUSTED p99 above --max_reject_ms");
  }
  if ((end.rss_kb - start.rss_kb) / 1024.0 > options.max_rss_growth_mb) {
    failures.push_back("RSS grew");
  }
  // The server's own threads come back to their number at the start once the last reload has
  // settled. gRPC's pools (sync-server pollers, executor, timers) grow and shrink with the load
  // by their own rules; a bounded allowance covers them, and the report names every thread.
  if (end.own_threads() > start.own_threads()) failures.push_back("thread leak (own threads)");
  if (end.threads - end.own_threads() >
      start.threads - start.own_threads() + options.max_other_thread_growth) {
    failures.push_back(
        "thread growth in gRPC's or the exposer's threads above --max_other_thread_growth");
  }
  if (end.fds > start.fds + 2) failures.push_back("fd leak");
  if (term_lost > 0) failures.push_back("requests lost at SIGTERM");
  if (!none_left) failures.push_back("the server did not report 0 requests left in flight");
  if (!ExitedCleanly(exit_status)) failures.push_back("unclean exit after SIGTERM");
  for (const auto& f : failures) std::cout << "FAIL: " << f << std::endl;
  if (failures.empty()) std::cout << "PASS" << std::endl;
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving

int main(int argc, char** argv) {
  theano_serving::testing_util::Options options;
  if (!theano_serving::testing_util::ParseFlags(argc, argv, &options)) {
    std::cerr << "usage: soak_driver [--duration_s=180] [--clients=8] [--reload_s=10] "
                 "[--max_queue_images=16] [--max_reject_ms=5] [--max_rss_growth_mb=64] "
                 "[--max_other_thread_growth=8] [--report=FILE]"
              << std::endl;
    return 2;
  }
  return theano_serving::testing_util::Run(options);
}
