// What every inference RPC does around its work, written once for both APIs: build the
// RequestInfo, pass the drain gate, and finish (metrics + reactor + gate) exactly once.
#ifndef THEANO_SERVING_SERVER_RPC_UTIL_H_
#define THEANO_SERVING_SERVER_RPC_UTIL_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "server/drain_gate.h"
#include "server/inference_runner.h"
#include "server/metrics.h"

namespace theano_serving {

// RequestInfo for a callback RPC: its deadline and a cancellation probe.
RequestInfo MakeRequestInfo(const char* api, grpc::CallbackServerContext* context);

// Finishes an admitted request: counts it (code, reason, latency), finishes the reactor with the
// converted status, and leaves the drain gate. Call exactly once.
using FinishRequest = std::function<void(const absl::Status& status, const std::string& version,
                                         const std::string& reason)>;

// Admits a request for `model` through `gate`. While the server drains the request is refused:
// it is counted, the reactor is finished with UNAVAILABLE, and nullopt is returned.
std::optional<FinishRequest> AdmitRequest(grpc::ServerUnaryReactor* reactor,
                                          const RequestInfo& info, const std::string& model,
                                          Metrics* metrics, DrainGate* gate);

// A short metrics reason for a model lookup failure.
std::string ResolveErrorReason(const absl::Status& status);

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_RPC_UTIL_H_
