// Fuzz target: Open Inference Protocol v2 ModelInfer. The input is a serialized
// inference.ModelInferRequest (libFuzzer mutates the bytes; inputs that are not a valid message
// are skipped), sent to the in-process server: tensor shapes, datatypes, raw contents sizes,
// BYTES length prefixes, outputs and the classification extension are all checked by the
// server's own code. Every answer must be OK or a client-error code; INTERNAL, UNKNOWN or a
// crash/hang is a finding.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/fuzz/in_process_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto stub =
      inference::GRPCInferenceService::NewStub(theano_serving::fuzz::InProcessChannel());
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  inference::ModelInferResponse response;
  const grpc::Status status = stub->ModelInfer(&context, request, &response);
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      break;
    default:
      std::cerr << "unexpected status " << status.error_code() << ": " << status.error_message()
                << std::endl;
      std::abort();
  }
  if (status.ok() && response.outputs_size() != 1) std::abort();
  return 0;
}
