// absl::Status → grpc::Status: the one place the server converts between them.
#ifndef THEANO_SERVING_SERVER_GRPC_STATUS_H_
#define THEANO_SERVING_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace theano_serving {

// Same code (absl and gRPC share the canonical code numbers) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The canonical upper-case name of a code, e.g. "INVALID_ARGUMENT", as Prometheus labels use it.
const char* StatusCodeName(absl::StatusCode code);

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_GRPC_STATUS_H_
