#include "tests/testing/rpc_testing.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/grpc_status.h"

namespace theano_serving {
namespace testing_util {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(20);

std::string CodeName(grpc::StatusCode code) { return absl::StatusCodeToString(FromGrpcCode(code)); }

}  // namespace

::testing::AssertionResult IsRpcError(const grpc::Status& status, grpc::StatusCode code,
                                      absl::string_view substring) {
  if (status.error_code() == code && absl::StrContains(status.error_message(), substring)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << CodeName(code) << " with a message containing \"" << substring
         << "\", got " << CodeName(status.error_code()) << ": \"" << status.error_message() << "\"";
}

void ServedModelTest::SetUp() {
  samples_ = LoadSamples();
  ASSERT_FALSE(samples_.empty());
  auto server = ServerProcess::Start(options_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  classify_ = v1::ClassificationService::NewStub(server_->channel());
  infer_ = inference::GRPCInferenceService::NewStub(server_->channel());
}

grpc::Status ServedModelTest::Classify(const v1::ClassifyRequest& request,
                                       v1::ClassifyResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context, kDeadline);
  return classify_->Classify(&context, request, response);
}

grpc::Status ServedModelTest::Classify(const v1::ClassifyRequest& request) {
  v1::ClassifyResponse response;
  return Classify(request, &response);
}

grpc::Status ServedModelTest::Infer(const inference::ModelInferRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context, kDeadline);
  inference::ModelInferResponse response;
  return infer_->ModelInfer(&context, request, &response);
}

void ServedModelTest::ExpectServing() {
  auto health = grpc::health::v1::Health::NewStub(server_->channel());
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response).ok())
      << server_->Stderr();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(Classify(MakeClassifyRequest(kModel, {&samples_[0]})).ok());
}

double ServedModelTest::ErrorCount(const std::string& api, const std::string& code,
                                   const std::string& reason) {
  auto text = server_->Metrics();
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return -1;
  return SumMetric(ParsePrometheusText(*text), "theano_serving_request_errors_total",
                   {{"api", api}, {"code", code}, {"reason", reason}});
}

}  // namespace testing_util
}  // namespace theano_serving
