// theano-serving-cli: a command-line client for theano-serving.
//
//   theano-serving-cli [global flags] SUBCOMMAND [flags] ARGS...
//
// Subcommands: classify, infer, health, models, bench, help (see kUsage). Flags may appear
// anywhere (absl::flags parses them all; the first positional is the subcommand).
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/channel.h"
#include "client/commands.h"
#include "core/flag_usage.h"

ABSL_FLAG(std::string, server, "127.0.0.1:8500",
          "Server: HOST:PORT, a list H1:P1,H2:P2 (load-balanced), or a gRPC target URI such as "
          "ipv4:127.0.0.1:P1,127.0.0.1:P2 or dns:///host:port");
ABSL_FLAG(std::string, lb, "",
          "Load balancing: round_robin or pick_first (default: round_robin when the target lists "
          "several addresses, else pick_first)");
ABSL_FLAG(int64_t, timeout_ms, 10000, "Per-RPC deadline in milliseconds (0 = none)");
ABSL_FLAG(std::string, tls_ca, "", "TLS: PEM file of root certificates (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "mTLS: PEM client certificate chain (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "mTLS: PEM client private key (with --tls_cert)");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: name to verify in the server certificate instead of the target host");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON");
ABSL_FLAG(std::string, model, "",
          "Model name (classify/infer/bench default: fashion_lenet; health default: the whole "
          "server)");
ABSL_FLAG(int64_t, version, 0, "Model version (0 = latest ready)");
ABSL_FLAG(std::optional<int>, top_k, std::nullopt,
          "classify/bench: classes per image (default: the server's, 5 clamped to the class "
          "count)");
ABSL_FLAG(int, classification, 0,
          "infer: return the top K classes as \"score:index:label\" strings (0 = raw scores)");
ABSL_FLAG(int, images_per_request, 0,
          "classify: images per Classify RPC (default 8); bench --api classify: images per "
          "request (default 1)");
ABSL_FLAG(int, concurrency, 1, "bench: concurrent workers, one request in flight each");
ABSL_FLAG(double, duration_s, 0,
          "bench: run for this many seconds (default 10 s when --requests is not given)");
ABSL_FLAG(int64_t, requests, 0, "bench: stop after this many requests");
ABSL_FLAG(double, rate, 0,
          "bench: open loop at this many requests/s in total (0 = closed loop, as fast as the "
          "workers go)");
ABSL_FLAG(std::string, api, "classify",
          "bench: classify (theano_serving.v1 Classify with images) or v2 (OIP ModelInfer with "
          ".npy files)");
ABSL_FLAG(bool, allow_errors, false, "bench: exit 0 even if some requests failed");

namespace {

// This file's name, to tell its flags from those of libraries (absl's own --flagfile etc.).
constexpr char kThisFile[] = "client/cli_main.cc";

constexpr char kUsage[] = R"(theano-serving-cli [flags] SUBCOMMAND ARGS...

  classify [--model M] [--version V] [--top_k K] [--json] PATH...
      Classify images (files, or folders of *.png/*.jpg/*.jpeg/*.bmp/*.tif/*.tiff/*.webp),
      --images_per_request per Classify RPC. Results are per file, named by its path: a file the
      server cannot take (e.g. not a PNG/JPEG/BMP/TIFF/WebP) gets an "error: PATH: CODE: message"
      line, the others their classes; exit status 1 if any file failed.
  infer [--model M] [--version V] [--classification K] [--json] FILE.npy...
      Open Inference Protocol v2 ModelInfer with the tensor of each .npy file (float32 or
      float64): one input of the model's shape, e.g. (C,H,W), or a batch (N,C,H,W); sent in the
      model's datatype (FP32, or FP64 for a float64 model). The tensor reaches the model as it
      is: no resize, scale, mean or std (the model's preprocessing is for encoded images); save
      it preprocessed.
  health [--model M]
      grpc.health.v1 Check of the server (or of model M); prints SERVING/NOT_SERVING,
      exit 0 only if SERVING.
  models [--json]
      Every model version: a NAME VERSION STATE REASON table (or JSON).
  bench [--model M] [--concurrency C] [--duration_s S | --requests N] [--rate R]
        [--images_per_request B] [--api classify|v2] [--json] [--allow_errors] PATH...
      Load generator: throughput, latency p50/p90/p99/max and errors by status code.
  help
      This text (also --help).

Global: --server HOST:PORT|H1:P1,H2:P2|TARGET  --lb round_robin|pick_first  --timeout_ms MS
        --tls_ca FILE  --tls_cert FILE --tls_key FILE  --tls_server_name NAME
Exit status: 0 success, 1 an RPC or data error (printed as "error: ...: CODE: message"),
2 a usage error.)";

}  // namespace

int main(int argc, char** argv) {
  namespace client = theano_serving::client;
  const theano_serving::ProgramUsage usage{kUsage, kThisFile, ""};
  if (theano_serving::HandleHelp(argc, argv, usage, std::cout)) return 0;
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::cerr << "usage: " << kUsage << "\n(theano-serving-cli --help lists every flag)\n";
    return 2;
  }
  const std::string command = positional[1];
  if (command == "help") {
    theano_serving::PrintUsage(std::cout, usage);
    return 0;
  }
  const std::vector<std::string> args(positional.begin() + 2, positional.end());

  client::ChannelOptions channel_options;
  channel_options.server = absl::GetFlag(FLAGS_server);
  channel_options.lb_policy = absl::GetFlag(FLAGS_lb);
  channel_options.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  channel_options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  channel_options.tls_key = absl::GetFlag(FLAGS_tls_key);
  channel_options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  auto channel = client::MakeChannel(channel_options);
  if (!channel.ok()) {
    std::cerr << "error: " << channel.status().message() << "\n";
    return 2;
  }

  client::CommandContext ctx;
  ctx.channel = *channel;
  ctx.target = client::NormalizeTarget(channel_options.server);
  ctx.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  ctx.json = absl::GetFlag(FLAGS_json);
  ctx.model = absl::GetFlag(FLAGS_model);
  ctx.version = absl::GetFlag(FLAGS_version);
  const int images_per_request = absl::GetFlag(FLAGS_images_per_request);

  if (command == "classify") {
    return client::RunClassify(ctx, absl::GetFlag(FLAGS_top_k),
                               images_per_request > 0 ? images_per_request : 8, args);
  }
  if (command == "infer") {
    return client::RunInfer(ctx, absl::GetFlag(FLAGS_classification), args);
  }
  if (command == "health" || command == "models") {
    if (!args.empty()) {
      std::cerr << command << ": takes no arguments\n";
      return 2;
    }
    return command == "health" ? client::RunHealth(ctx) : client::RunModels(ctx);
  }
  if (command == "bench") {
    client::BenchCommandOptions options;
    options.bench.concurrency = absl::GetFlag(FLAGS_concurrency);
    options.bench.duration_s = absl::GetFlag(FLAGS_duration_s);
    options.bench.requests = absl::GetFlag(FLAGS_requests);
    options.bench.rate = absl::GetFlag(FLAGS_rate);
    options.bench.images_per_request = images_per_request > 0 ? images_per_request : 1;
    options.api = absl::GetFlag(FLAGS_api);
    options.top_k = absl::GetFlag(FLAGS_top_k);
    options.allow_errors = absl::GetFlag(FLAGS_allow_errors);
    if (options.bench.concurrency < 1) {
      std::cerr << "bench: --concurrency must be >= 1\n";
      return 2;
    }
    return client::RunBenchCommand(ctx, options, args);
  }
  std::cerr << "unknown subcommand \"" << command << "\"\n\nusage: " << kUsage << "\n";
  return 2;
}
