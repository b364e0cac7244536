// grpc.health.v1 (Check and Watch, through a SIGTERM) and server reflection on the real server.
#include <signal.h>

#include <memory>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"

namespace theano_serving {
namespace testing_util {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    health_ = grpc::health::v1::Health::NewStub(server_->channel());
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    HealthCheckRequest request;
    request.set_service(service);
    return health_->Check(&context, request, response);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(HealthTest, CheckServerModelAndUnknown) {
  HealthCheckResponse response;
  ASSERT_TRUE(Check("", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check(kModel, &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check("theano_serving.v1.ClassificationService", &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("no_such_model", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Watch sends the current status at once; SIGTERM makes it NOT_SERVING (or ends the stream as the
// server shuts down), and the server exits 0.
TEST_F(HealthTest, WatchSeesServingThenShutdown) {
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  HealthCheckRequest request;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> watch =
      health_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  ASSERT_TRUE(server_->SendSignal(SIGTERM).ok());
  bool saw_not_serving = false;
  while (watch->Read(&response)) {
    if (response.status() == HealthCheckResponse::NOT_SERVING) {
      saw_not_serving = true;
      break;
    }
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << "unexpected status";
  }
  if (!saw_not_serving) {
    // The stream ended instead: it must be the server going away, not the test deadline.
    const grpc::Status end = watch->Finish();
    EXPECT_NE(end.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << end.error_message();
  } else {
    context.TryCancel();
  }
  const std::optional<int> exit = server_->WaitExit(absl::Seconds(15));
  EXPECT_TRUE(ExitedCleanly(exit)) << DescribeWaitStatus(exit);
}

TEST_F(HealthTest, ReflectionListsTheServices) {
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(server_->channel());
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_list_services_response()) << response.DebugString();
  std::set<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.insert(s.name());
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"theano_serving.v1.ClassificationService",
                                       "inference.GRPCInferenceService", "grpc.health.v1.Health"}));

  // And a descriptor: the file declaring Classify, which a tool like grpcurl needs next.
  request.set_file_containing_symbol("theano_serving.v1.ClassificationService");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_file_descriptor_response()) << response.DebugString();
  EXPECT_GE(response.file_descriptor_response().file_descriptor_proto_size(), 1);
  EXPECT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
