// theano-serving: hosts the models of a repository over gRPC (theano_serving.v1 classification
// API, Open Inference Protocol v2, grpc.health.v1, reflection) with Prometheus metrics.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/cpu.h"
#include "core/fast/fast_graph.h"
#include "core/file_util.h"
#include "core/flag_usage.h"
#include "core/model.h"
#include "core/thread_name.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/classification_service.h"
#include "server/drain_gate.h"
#include "server/inference_runner.h"
#include "server/inference_service.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "server/shutdown_signal.h"
#include "server/thread_pool.h"

ABSL_FLAG(std::string, model_repository, "",
          "Model repository: <dir>/<model_name>/<version>/{model.json,params.npz}. Default: the "
          "embedded models/ (fashion_lenet).");
ABSL_FLAG(std::string, host, "0.0.0.0", "Address the gRPC and metrics ports bind to.");
ABSL_FLAG(int, grpc_port, 8500, "gRPC port (0 = any free port; see --port_file).");
ABSL_FLAG(int, metrics_port, 8502, "Prometheus /metrics port (0 = any free port).");
ABSL_FLAG(std::string, port_file, "",
          "If set, write {\"grpc\": N, \"metrics\": M} here once both ports listen.");
ABSL_FLAG(std::string, version_policy, "latest:1",
          "Which versions to serve: latest:N, all, or specific:V1,V2 (per-model config.json "
          "\"version_policy\" overrides).");
ABSL_FLAG(double, poll_interval_s, 2.0,
          "Seconds between model repository scans for new/removed versions (0 = never).");
ABSL_FLAG(int, max_batch_size, 8, "Dynamic batching: most images per model run.");
ABSL_FLAG(int, max_queue_delay_us, 500,
          "Dynamic batching: how long the first queued request waits for others (microseconds).");
ABSL_FLAG(int, max_queue_images, 256,
          "Dynamic batching: queue bound in images; a request beyond it is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, inference_threads, 0,
          "Inference threads per model version, each running one single-threaded batch at a time "
          "(0 = one per CPU core: parallelism across batches, not inside one; see "
          "docs/PERFORMANCE.md).");
ABSL_FLAG(std::string, engine, "fast",
          "fast (core/fast kernels, the default) or reference (core/ops, the specification).");
ABSL_FLAG(std::string, isa, "",
          "avx512, avx2 or portable: the instruction set of the fast engine's kernels (default: "
          "the widest this CPU runs). For diagnosis, e.g. the AVX2 kernels on an AVX-512 host; "
          "the server refuses to start with one the CPU lacks.");
ABSL_FLAG(std::string, winograd, "auto",
          "auto, never or always: which 3x3 stride-1 convs the fast engine runs as Winograd "
          "F(2x2, 3x3) (fewer multiplications, about twice the direct kernel's rounding error, "
          "within the golden tolerance). auto: where it pays; never: the direct kernel only.");
ABSL_FLAG(int, intra_op_threads, 1,
          "Threads one batch may use inside the fast engine. 1 (the default): parallelism comes "
          "from --inference_threads batches at once, which holds up when cores are shared.");
ABSL_FLAG(int, decode_threads, 2, "Image decode/preprocessing threads (shared by all models).");
ABSL_FLAG(int, decode_queue, 1024, "Decode queue bound in requests (RESOURCE_EXHAUSTED beyond).");
ABSL_FLAG(int, max_images_per_request, 64, "Most images in one request.");
ABSL_FLAG(int64_t, max_image_pixels, 4096LL * 4096,
          "Most pixels (width * height, read from the image header before decoding) per image.");
ABSL_FLAG(int, max_receive_message_bytes, 64 << 20, "Largest request message accepted.");
ABSL_FLAG(double, drain_timeout_s, 10.0,
          "On SIGTERM/SIGINT: health NOT_SERVING, stop accepting, and let in-flight requests "
          "finish for at most this long before exiting.");
ABSL_FLAG(double, drain_grace_s, 1.0,
          "On SIGTERM, seconds (counted from the signal) during which health says NOT_SERVING and "
          "new requests are refused with UNAVAILABLE before gRPC shuts down, so health-checking "
          "clients stop sending before the transport closes.");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate chain (enables TLS).");
ABSL_FLAG(std::string, tls_key, "", "PEM server private key.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; if set, clients must present a certificate it signed (mutual TLS).");
ABSL_FLAG(bool, insecure, false, "Serve plaintext gRPC (required when no --tls_cert is given).");

namespace theano_serving {
namespace {

constexpr char kVersion[] = "0.1.0";

// This file's name, to tell its flags from those of libraries (absl's own --flagfile etc.).
constexpr char kThisFile[] = "server/server_main.cc";

constexpr char kUsage[] =
    R"(theano-serving [--model_repository=DIR] [--grpc_port=8500] [--metrics_port=8502]
               (--insecure | --tls_cert=PEM --tls_key=PEM [--tls_client_ca=PEM]) [flags]

Serves every model of a repository DIR/<model_name>/<version>/{model.json,params.npz} (default:
the embedded models/, fashion_lenet) over gRPC: theano_serving.v1 classification, Open Inference
Protocol v2, grpc.health.v1 and reflection (docs/API.md), with Prometheus /metrics on the metrics
port. SIGTERM/SIGINT drain in-flight requests, then exit 0.)";

int Die(const std::string& message) {
  std::cerr << "theano-serving: " << message << std::endl;
  return 1;
}

// The embedded repository: <exe>/../../models in a build tree (build/bin/theano-serving),
// <exe>/../share/theano-serving/models when installed.
std::string DefaultRepository() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "models";
  for (const auto& candidate : {exe.parent_path().parent_path() / "share/theano-serving/models",
                                exe.parent_path().parent_path().parent_path() / "models"}) {
    if (std::filesystem::is_directory(candidate / "fashion_lenet", ec)) return candidate.string();
  }
  return "models";
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert), key = absl::GetFlag(FLAGS_tls_key),
                    ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (cert.empty() && key.empty() && ca.empty()) {
    if (!absl::GetFlag(FLAGS_insecure)) {
      return absl::FailedPreconditionError(
          "no --tls_cert/--tls_key given; pass them for TLS, or --insecure for plaintext");
    }
    return grpc::InsecureServerCredentials();
  }
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
  }
  grpc::SslServerCredentialsOptions options(
      ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert_pem = ReadFileToString(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadFileToString(key);
  if (!key_pem.ok()) return key_pem.status();
  pair.cert_chain = *cert_pem;
  pair.private_key = *key_pem;
  options.pem_key_cert_pairs.push_back(pair);
  if (!ca.empty()) {
    auto ca_pem = ReadFileToString(ca);
    if (!ca_pem.ok()) return ca_pem.status();
    options.pem_root_certs = *ca_pem;
  }
  return grpc::SslServerCredentials(options);
}

// Health per model name (and "" for the whole server), kept in step with the repository.
class HealthUpdater {
 public:
  void Attach(grpc::Server* server, ModelRepository* repository) {
    absl::MutexLock lock(&mu_);
    server_ = server;
    repository_ = repository;
    SyncLocked();
  }
  void Sync() {
    absl::MutexLock lock(&mu_);
    SyncLocked();
  }
  // Everything NOT_SERVING from now on (draining).
  void Shutdown() {
    absl::MutexLock lock(&mu_);
    if (server_ != nullptr) server_->GetHealthCheckService()->Shutdown();
    server_ = nullptr;
  }

 private:
  void SyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (server_ == nullptr || repository_ == nullptr) return;
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    std::set<std::string> names;
    bool any = false;
    for (const ModelVersionStatus& s : repository_->List()) names.insert(s.name);
    for (const std::string& name : names) {
      const bool ready = repository_->AnyReady(name);
      any |= ready;
      health->SetServingStatus(name, ready);
    }
    health->SetServingStatus("", any);
    health->SetServingStatus("theano_serving.v1.ClassificationService", any);
    health->SetServingStatus("inference.GRPCInferenceService", any);
  }

  absl::Mutex mu_;
  grpc::Server* server_ ABSL_GUARDED_BY(mu_) = nullptr;
  ModelRepository* repository_ ABSL_GUARDED_BY(mu_) = nullptr;
};

absl::Status WritePortFile(const std::string& path, int grpc_port, int metrics_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << "{\"grpc\": " << grpc_port << ", \"metrics\": " << metrics_port << "}\n";
    if (!f) return absl::FailedPreconditionError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

// For the ready line: "fast (isa avx512, this CPU's widest)", "fast (isa avx2 by --isa; this CPU
// runs up to avx512)" or "reference"; a --winograd other than auto is named too ("fast (isa
// avx512, this CPU's widest; winograd never)").
std::string DescribeEngine(const ModelOptions& model) {
  if (model.engine != Engine::kFast) return EngineName(model.engine);
  const std::string winograd = model.fast.winograd == FastOptions::Winograd::kAuto
                                   ? ""
                                   : absl::StrCat("; winograd ", WinogradName(model.fast.winograd));
  if (!model.fast.isa.has_value()) {
    return absl::StrCat("fast (isa ", IsaString(CpuIsa()), ", this CPU's widest", winograd, ")");
  }
  return absl::StrCat("fast (isa ", IsaString(*model.fast.isa), " by --isa; this CPU runs up to ",
                      IsaString(CpuIsa()), winograd, ")");
}

int Run() {
  // SIGTERM/SIGINT go to a handler and from it to the drain thread below (server/shutdown_signal.h:
  // blocking them here would not cover threads libraries started before main()).
  if (absl::Status s = ShutdownSignal::Install(); !s.ok()) {
    return Die(std::string(s.message()));
  }

  auto credentials = MakeCredentials();
  if (!credentials.ok()) return Die(std::string(credentials.status().message()));

  Metrics metrics;
  HealthUpdater health;
  RepositoryOptions options;
  options.root = absl::GetFlag(FLAGS_model_repository);
  if (options.root.empty()) options.root = DefaultRepository();
  auto policy = ParseVersionPolicy(absl::GetFlag(FLAGS_version_policy));
  if (!policy.ok()) return Die(absl::StrCat("--version_policy: ", policy.status().message()));
  options.policy = *policy;
  options.batcher.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.batcher.max_queue_delay = absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us));
  options.batcher.max_queue_images = absl::GetFlag(FLAGS_max_queue_images);
  options.batcher.num_threads = absl::GetFlag(FLAGS_inference_threads);
  if (options.batcher.num_threads == 0) {
    options.batcher.num_threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  auto engine = ParseEngine(absl::GetFlag(FLAGS_engine));
  if (!engine.ok()) return Die(absl::StrCat("--", engine.status().message()));
  options.model.engine = *engine;
  options.model.intra_op_threads = absl::GetFlag(FLAGS_intra_op_threads);
  if (options.model.intra_op_threads < 1) {
    return Die(
        absl::StrCat("--intra_op_threads must be >= 1, got ", options.model.intra_op_threads));
  }
  if (const std::string isa_flag = absl::GetFlag(FLAGS_isa); !isa_flag.empty()) {
    auto isa = ParseIsa(isa_flag);
    if (!isa.ok()) return Die(absl::StrCat("--", isa.status().message()));
    options.model.fast.isa = *isa;
    // Checked here, as every model load would (Model::SetEngine): one the CPU lacks stops the
    // server before it serves anything, rather than failing each model.
    FastOptions fast = options.model.fast;
    fast.threads = options.model.intra_op_threads;
    if (absl::Status s = CheckFastOptions(fast); !s.ok()) {
      return Die(absl::StrCat("--isa=", isa_flag, ": ", s.message()));
    }
  }
  auto winograd = ParseWinograd(absl::GetFlag(FLAGS_winograd));
  if (!winograd.ok()) return Die(absl::StrCat("--", winograd.status().message()));
  options.model.fast.winograd = *winograd;
  options.poll_interval = absl::Seconds(absl::GetFlag(FLAGS_poll_interval_s));
  options.on_queue_depth = [&metrics](const std::string& name, int64_t, int queued) {
    metrics.QueueDepth(name, queued);
  };
  if (options.batcher.max_batch_size < 1 || options.batcher.num_threads < 1 ||
      options.batcher.max_queue_images < 1) {
    return Die("--max_batch_size, --inference_threads and --max_queue_images must be >= 1");
  }

  auto repository = ModelRepository::Create(options, [&metrics, &health](const RepositoryEvent& e) {
    const std::string version = absl::StrCat(e.version);
    switch (e.kind) {
      case RepositoryEvent::Kind::kLoaded:
        metrics.ModelLoad(e.name, version, true, e.load_time);
        break;
      case RepositoryEvent::Kind::kLoadFailed:
        metrics.ModelLoad(e.name, version, false, e.load_time);
        break;
      case RepositoryEvent::Kind::kUnloaded:
        metrics.ModelUnload(e.name, version);
        break;
    }
    health.Sync();
  });
  if (!repository.ok()) return Die(std::string(repository.status().message()));

  ThreadPool decode_pool(absl::GetFlag(FLAGS_decode_threads), absl::GetFlag(FLAGS_decode_queue));
  RequestLimits limits;
  limits.max_images_per_request = absl::GetFlag(FLAGS_max_images_per_request);
  limits.max_image_pixels = absl::GetFlag(FLAGS_max_image_pixels);
  InferenceRunner runner(repository->get(), &decode_pool, &metrics, limits);
  DrainGate gate;
  ClassificationServiceImpl classification(&runner, repository->get(), &metrics, &gate);
  InferenceServiceImpl inference(&runner, repository->get(), &metrics, &gate, kVersion);

  const std::string host = absl::GetFlag(FLAGS_host);
  absl::Status metrics_ok =
      metrics.Listen(absl::StrCat(host, ":", absl::GetFlag(FLAGS_metrics_port)));
  if (!metrics_ok.ok()) return Die(std::string(metrics_ok.message()));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(absl::StrCat(host, ":", absl::GetFlag(FLAGS_grpc_port)), *credentials,
                           &grpc_port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_receive_message_bytes));
  builder.RegisterService(&classification);
  builder.RegisterService(&inference);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return Die(absl::StrCat("cannot listen on ", host, ":", absl::GetFlag(FLAGS_grpc_port)));
  }
  health.Attach(server.get(), repository->get());
  (*repository)->StartPolling();

  if (const std::string pf = absl::GetFlag(FLAGS_port_file); !pf.empty()) {
    absl::Status s = WritePortFile(pf, grpc_port, metrics.port());
    if (!s.ok()) return Die(std::string(s.message()));
  }
  std::vector<std::string> models;
  for (const ModelVersionStatus& s : (*repository)->List()) {
    models.push_back(absl::StrCat(s.name, " v", s.version, " ", ModelStateName(s.state)));
  }
  std::cerr << "theano-serving " << kVersion << " ready: grpc " << host << ":" << grpc_port
            << (absl::GetFlag(FLAGS_tls_cert).empty() ? " (insecure)" : " (TLS)") << ", metrics "
            << host << ":" << metrics.port() << "/metrics, repository " << options.root
            << ", engine " << DescribeEngine(options.model)
            << ", models: " << (models.empty() ? "none" : absl::StrJoin(models, ", ")) << std::endl;

  std::thread signal_thread([&] {
    NameThisThread("signal");
    const int sig = ShutdownSignal::Wait();
    std::cerr << "theano-serving: signal " << sig << ", draining (at most "
              << absl::GetFlag(FLAGS_drain_timeout_s) << " s)" << std::endl;
    const absl::Time signalled = absl::Now();
    health.Shutdown();
    // New requests get UNAVAILABLE; admitted ones finish (up to the drain timeout). Then gRPC
    // shuts down, cancelling what is left (health Watch streams, or requests past the timeout).
    const int left = gate.CloseAndWait(absl::Seconds(absl::GetFlag(FLAGS_drain_timeout_s)));
    if (left > 0) {
      std::cerr << "theano-serving: drain timeout: cancelling " << left << " request(s)"
                << std::endl;
    }
    // Health watchers (clients with client-side health checking) stop routing to this server once
    // they see NOT_SERVING; until the grace ends, whatever still arrives is refused by the gate
    // (UNAVAILABLE, safe to retry elsewhere) rather than cut by the transport's shutdown (a call
    // gRPC had read but not handed to a handler when Shutdown began ends CANCELLED).
    absl::SleepFor(signalled + absl::Seconds(absl::GetFlag(FLAGS_drain_grace_s)) - absl::Now());
    std::cerr << "theano-serving: drained: " << gate.admitted() << " request(s) admitted, "
              << gate.refused() << " refused while draining, " << left << " left in flight"
              << std::endl;
    // The grace lets the answers just finished reach the wire before open streams are cancelled.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  });
  server->Wait();
  signal_thread.join();
  // Then, in reverse order of construction: the decode pool drains (its tasks hold their model
  // version), the repository goes, and each version's batcher finishes what it holds.
  server.reset();
  std::cerr << "theano-serving: stopped" << std::endl;
  return 0;
}

}  // namespace
}  // namespace theano_serving

int main(int argc, char** argv) {
  namespace ts = theano_serving;
  const ts::ProgramUsage usage{ts::kUsage, ts::kThisFile,
                               absl::StrCat("theano-serving ", ts::kVersion)};
  if (ts::HandleHelp(argc, argv, usage, std::cout)) return 0;
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "theano-serving: unexpected argument " << rest[1] << std::endl;
    return 2;
  }
  return theano_serving::Run();
}
