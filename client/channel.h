// Building the client's gRPC channel: target syntax, load balancing, retries and TLS.
#ifndef THEANO_SERVING_CLIENT_CHANNEL_H_
#define THEANO_SERVING_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"

namespace theano_serving {
namespace client {

struct ChannelOptions {
  // "HOST:PORT", a list "H1:P1,H2:P2" (treated as "ipv4:H1:P1,H2:P2"), or any gRPC target URI
  // ("ipv4:...", "ipv6:...", "dns:///name:port", "unix:/path").
  std::string server = "127.0.0.1:8500";
  // "round_robin" or "pick_first"; empty = round_robin when the target lists several addresses,
  // otherwise pick_first.
  std::string lb_policy;
  // TLS: any of these set switches to TLS. `tls_ca` = PEM root certificates (empty = the system
  // roots); `tls_cert` + `tls_key` = client certificate chain and key for mutual TLS (both or
  // neither); `tls_server_name` overrides the name checked against the server certificate.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
};

// The target string gRPC gets for `server` (see ChannelOptions::server).
std::string NormalizeTarget(const std::string& server);

// The service config: the load-balancing policy and, for every method of the three services the
// client calls, a retryPolicy (3 attempts on UNAVAILABLE, 100 ms initial backoff) so a request that
// hits a server being killed is retried on another address. Returned as JSON text.
std::string ServiceConfigJson(const std::string& lb_policy);

// Creates the channel (lazily connecting). InvalidArgument for an unknown lb policy or a lone
// tls_cert/tls_key; NotFound / an error naming the file for unreadable TLS files.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ChannelOptions& options);

}  // namespace client
}  // namespace theano_serving

#endif  // THEANO_SERVING_CLIENT_CHANNEL_H_
