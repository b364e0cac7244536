// The server's request path in-process for the gRPC fuzz targets: the real ModelRepository on the
// source tree's models/ (fashion_lenet v1), InferenceRunner, decode pool, Metrics (not listening)
// and both services, registered on a grpc::Server with no port and reached through
// grpc::Server::InProcessChannel. Requests therefore go through gRPC's own deserialisation and the
// exact code the network server runs (server/inference_service.cc's request parsing lives in an
// anonymous namespace and is only reachable this way). Built once per process, never destroyed.
#ifndef THEANO_SERVING_TESTS_FUZZ_IN_PROCESS_SERVER_H_
#define THEANO_SERVING_TESTS_FUZZ_IN_PROCESS_SERVER_H_

#include <memory>

#include "grpcpp/grpcpp.h"

namespace theano_serving {
namespace fuzz {

// The shared channel; aborts if the repository cannot be loaded (a broken checkout, not a finding).
std::shared_ptr<grpc::Channel> InProcessChannel();

// Limits the in-process server enforces (small, so the fuzzer reaches them).
inline constexpr int kMaxImagesPerRequest = 8;
inline constexpr long long kMaxImagePixels = 512 * 512;

}  // namespace fuzz
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_FUZZ_IN_PROCESS_SERVER_H_
