// absl::Status <-> grpc::Status: the one place the server (and the CLI and test drivers, for the
// codes they print) convert between them. absl and gRPC share the canonical code numbers; names
// of codes come from absl::StatusCodeToString ("INVALID_ARGUMENT"), as Prometheus labels use them.
#ifndef THEANO_SERVING_SERVER_GRPC_STATUS_H_
#define THEANO_SERVING_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace theano_serving {

// Same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The same code; one outside the canonical set (0 to 16) becomes kUnknown.
absl::StatusCode FromGrpcCode(grpc::StatusCode code);

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_GRPC_STATUS_H_
