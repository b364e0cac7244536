// Helpers for tests that send bad requests to the real server (tests/integration/errors_test.cc,
// tests/reliability/bad_input_test.cc): the RPC-error expectation and a fixture serving the
// embedded fashion_lenet with stubs of both services.
#ifndef THEANO_SERVING_TESTS_TESTING_RPC_TESTING_H_
#define THEANO_SERVING_TESTS_TESTING_RPC_TESTING_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {

// Success iff `status` has `code` and its message contains `substring`; the failure shows both.
::testing::AssertionResult IsRpcError(const grpc::Status& status, grpc::StatusCode code,
                                      absl::string_view substring);

// EXPECT_RPC_ERROR(Classify(request), NOT_FOUND, "no_such_model").
#define EXPECT_RPC_ERROR(status_expr, code, substring)                                            \
  EXPECT_TRUE(::theano_serving::testing_util::IsRpcError((status_expr), ::grpc::StatusCode::code, \
                                                         (substring)))

// A real theano-serving with the embedded model (ServerProcess), the 20 fashion_lenet samples,
// and calls of both services with a 20 s deadline. Subclasses pass extra server flags to the
// constructor.
class ServedModelTest : public ::testing::Test {
 protected:
  explicit ServedModelTest(ServerOptions options = {}) : options_(std::move(options)) {}

  void SetUp() override;

  grpc::Status Classify(const v1::ClassifyRequest& request, v1::ClassifyResponse* response);
  grpc::Status Classify(const v1::ClassifyRequest& request);
  grpc::Status Infer(const inference::ModelInferRequest& request);

  // Health/Check("") is SERVING and a one-sample Classify succeeds: the server survived.
  void ExpectServing();

  // theano_serving_request_errors_total{api, code, reason} from /metrics (-1 and a test failure
  // if /metrics cannot be read).
  double ErrorCount(const std::string& api, const std::string& code, const std::string& reason);

  std::vector<Sample> samples_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::ClassificationService::Stub> classify_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> infer_;

 private:
  ServerOptions options_;
};

}  // namespace testing_util
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_TESTING_RPC_TESTING_H_
