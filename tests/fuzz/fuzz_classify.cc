// Fuzz target: our theano_serving.v1 Classify. The input is a serialized
// theano_serving.v1.ClassifyRequest (libFuzzer mutates the bytes; inputs that are not a valid
// message are skipped), sent to the in-process server: model name and version, top_k, image count,
// image bytes (header sniffing, pixel limit, decode) are all checked by the
// server's own code. Every answer must be OK or a client-error code; INTERNAL, UNKNOWN or a
// crash/hang is a finding.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "tests/fuzz/in_process_server.h"
#include "theano_serving/v1/classification.grpc.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto stub =
      theano_serving::v1::ClassificationService::NewStub(theano_serving::fuzz::InProcessChannel());
  theano_serving::v1::ClassifyRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  theano_serving::v1::ClassifyResponse response;
  const grpc::Status status = stub->Classify(&context, request, &response);
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
  if (status.ok() && response.results_size() != request.images_size()) std::abort();
  return 0;
}
