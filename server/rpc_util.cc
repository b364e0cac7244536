#include "server/rpc_util.h"

#include "absl/time/clock.h"
#include "server/grpc_status.h"

namespace theano_serving {

RequestInfo MakeRequestInfo(const char* api, grpc::CallbackServerContext* context) {
  RequestInfo info;
  info.api = api;
  info.start = absl::Now();
  info.deadline = absl::FromChrono(context->deadline());
  info.cancelled = [context] { return context->IsCancelled(); };
  return info;
}

std::optional<FinishRequest> AdmitRequest(grpc::ServerUnaryReactor* reactor,
                                          const RequestInfo& info, const std::string& model,
                                          Metrics* metrics, DrainGate* gate) {
  if (!gate->Enter()) {
    metrics->RequestDone(info.api, model, "", absl::StatusCode::kUnavailable, "draining",
                         absl::Now() - info.start);
    reactor->Finish(ToGrpcStatus(
        absl::UnavailableError("the server is shutting down; retry on another replica")));
    return std::nullopt;
  }
  metrics->InFlight(info.api, 1);
  return FinishRequest([reactor, metrics, gate, info, model](const absl::Status& status,
                                                             const std::string& version,
                                                             const std::string& reason) {
    const absl::Duration latency = absl::Now() - info.start;
    metrics->RequestDone(info.api, model, version, status.code(), reason, latency);
    if (status.ok()) metrics->Stage(model, "total", latency);
    metrics->InFlight(info.api, -1);
    reactor->Finish(ToGrpcStatus(status));
    gate->Exit();
  });
}

std::string ResolveErrorReason(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return "unknown_model";
    case absl::StatusCode::kUnavailable:
      return "model_unavailable";
    default:
      return "bad_request";
  }
}

}  // namespace theano_serving
