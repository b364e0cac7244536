#include "server/grpc_status.h"

#include <string>

namespace theano_serving {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::StatusCode FromGrpcCode(grpc::StatusCode code) {
  const int number = static_cast<int>(code);
  if (number < static_cast<int>(absl::StatusCode::kOk) ||
      number > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(number);
}

}  // namespace theano_serving
