#include "client/channel.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace client {
namespace {

// The PEM file of flag `what`; errors name the flag: "--tls_ca: cannot open ca.pem: ...".
absl::StatusOr<std::string> ReadFlagFile(const std::string& path, const char* what) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(), absl::StrCat(what, ": ", bytes.status().message()));
  }
  return bytes;
}

bool HasScheme(const std::string& target) {
  // "ipv4:", "ipv6:", "dns:", "unix:", "unix-abstract:", "vsock:" or any "scheme://".
  for (const char* scheme : {"ipv4:", "ipv6:", "dns:", "unix:", "unix-abstract:", "vsock:"}) {
    if (absl::StartsWith(target, scheme)) return true;
  }
  return absl::StrContains(target, "://");
}

}  // namespace

std::string NormalizeTarget(const std::string& server) {
  if (!HasScheme(server) && absl::StrContains(server, ',')) return absl::StrCat("ipv4:", server);
  return server;
}

std::string ServiceConfigJson(const std::string& lb_policy) {
  nlohmann::json retry = {
      {"maxAttempts", 3},
      {"initialBackoff", "0.1s"},
      {"maxBackoff", "1s"},
      {"backoffMultiplier", 2},
      {"retryableStatusCodes", {"UNAVAILABLE"}},
  };
  nlohmann::json names = nlohmann::json::array();
  for (const char* service : {"theano_serving.v1.ClassificationService",
                              "inference.GRPCInferenceService", "grpc.health.v1.Health"}) {
    names.push_back({{"service", service}});
  }
  nlohmann::json config = {
      {"loadBalancingConfig", {{{lb_policy, nlohmann::json::object()}}}},
      {"methodConfig", {{{"name", names}, {"retryPolicy", retry}}}},
  };
  return config.dump();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options) {
  const std::string target = NormalizeTarget(options.server);
  std::string lb = options.lb_policy;
  if (lb.empty()) lb = absl::StrContains(target, ',') ? "round_robin" : "pick_first";
  if (lb != "round_robin" && lb != "pick_first") {
    return absl::InvalidArgumentError(
        absl::StrCat("--lb must be round_robin or pick_first, got \"", lb, "\""));
  }

  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ServiceConfigJson(lb));
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  // Responses are small, but OIP v2 outputs of large batches can exceed the 4 MiB default.
  args.SetMaxReceiveMessageSize(64 << 20);

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const bool tls = !options.tls_ca.empty() || !options.tls_cert.empty() ||
                   !options.tls_key.empty() || !options.tls_server_name.empty();
  if (tls) {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
    }
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadFlagFile(options.tls_ca, "--tls_ca");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (!options.tls_cert.empty()) {
      absl::StatusOr<std::string> cert = ReadFlagFile(options.tls_cert, "--tls_cert");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFlagFile(options.tls_key, "--tls_key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

}  // namespace client
}  // namespace theano_serving
