// Malformed requests against the real server: the right gRPC code, a message naming the field, a
// server that keeps serving, and /metrics counting each failure under its reason.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "tests/testing/rpc_testing.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

using inference::ModelInferRequest;
using ::testing::HasSubstr;

class ErrorsTest : public ServedModelTest {
 protected:
  // A valid one-image FP32 request (golden image 0 would do; zeros are as valid).
  static ModelInferRequest ValidTensor() {
    ModelInferRequest request;
    request.set_model_name(kModel);
    auto* in = request.add_inputs();
    in->set_name("input");
    in->set_datatype("FP32");
    for (int64_t d : {1, 1, 28, 28}) in->add_shape(d);
    for (int i = 0; i < 784; ++i) in->mutable_contents()->add_fp32_contents(0.5f);
    return request;
  }
};

TEST_F(ErrorsTest, ClassifyErrorsNameTheField) {
  const Sample& good = samples_[0];

  v1::ClassifyRequest unknown_model = MakeClassifyRequest("no_such_model", {&good});
  EXPECT_RPC_ERROR(Classify(unknown_model), NOT_FOUND, "no_such_model");

  v1::ClassifyRequest unknown_version = MakeClassifyRequest(kModel, {&good});
  unknown_version.set_model_version(7);
  EXPECT_RPC_ERROR(Classify(unknown_version), NOT_FOUND, "version 7");

  v1::ClassifyRequest top_k_zero = MakeClassifyRequest(kModel, {&good});
  top_k_zero.set_top_k(0);
  EXPECT_RPC_ERROR(Classify(top_k_zero), INVALID_ARGUMENT, "top_k");

  v1::ClassifyRequest top_k_eleven = MakeClassifyRequest(kModel, {&good});
  top_k_eleven.set_top_k(11);
  EXPECT_RPC_ERROR(Classify(top_k_eleven), INVALID_ARGUMENT, "top_k");
  EXPECT_THAT(Classify(top_k_eleven).error_message(), HasSubstr("11"));

  // images[0] is a good PNG; images[1] is not an image at all.
  v1::ClassifyRequest garbage = MakeClassifyRequest(kModel, {&good, &good});
  garbage.mutable_images(1)->set_data("this is not an image, just text");
  EXPECT_RPC_ERROR(Classify(garbage), INVALID_ARGUMENT, "images[1]");

  // A PNG signature followed by junk: the header check or the decoder must refuse it.
  v1::ClassifyRequest truncated = MakeClassifyRequest(kModel, {&good, &good, &good});
  truncated.mutable_images(2)->set_data(good.png.substr(0, 40));
  EXPECT_RPC_ERROR(Classify(truncated), INVALID_ARGUMENT, "images[2]");

  v1::ClassifyRequest no_images;
  no_images.set_model_name(kModel);
  EXPECT_RPC_ERROR(Classify(no_images), INVALID_ARGUMENT, "images");

  v1::ClassifyRequest no_model = MakeClassifyRequest("", {&good});
  EXPECT_RPC_ERROR(Classify(no_model), INVALID_ARGUMENT, "model_name");
}

TEST_F(ErrorsTest, V2ErrorsNameTheField) {
  ASSERT_TRUE(Infer(ValidTensor()).ok());

  ModelInferRequest wrong_type = ValidTensor();
  wrong_type.mutable_inputs(0)->set_datatype("INT8");
  EXPECT_RPC_ERROR(Infer(wrong_type), INVALID_ARGUMENT, "datatype");

  ModelInferRequest wrong_shape = ValidTensor();
  wrong_shape.mutable_inputs(0)->set_shape(3, 27);
  EXPECT_RPC_ERROR(Infer(wrong_shape), INVALID_ARGUMENT, "shape");

  ModelInferRequest raw_size = ValidTensor();
  raw_size.mutable_inputs(0)->clear_contents();
  raw_size.add_raw_input_contents()->assign(783 * sizeof(float), '\0');
  EXPECT_RPC_ERROR(Infer(raw_size), INVALID_ARGUMENT, "raw_input_contents[0]");

  ModelInferRequest both = ValidTensor();
  both.add_raw_input_contents()->assign(784 * sizeof(float), '\0');
  EXPECT_RPC_ERROR(Infer(both), INVALID_ARGUMENT, "both contents and raw_input_contents");

  ModelInferRequest nan = ValidTensor();
  nan.mutable_inputs(0)->mutable_contents()->set_fp32_contents(
      5, std::numeric_limits<float>::quiet_NaN());
  EXPECT_RPC_ERROR(Infer(nan), INVALID_ARGUMENT, "fp32_contents[5]");

  ModelInferRequest wrong_name = ValidTensor();
  wrong_name.mutable_inputs(0)->set_name("pixels");
  EXPECT_RPC_ERROR(Infer(wrong_name), INVALID_ARGUMENT, "inputs[0].name");

  ModelInferRequest unknown_model = ValidTensor();
  unknown_model.set_model_name("no_such_model");
  EXPECT_RPC_ERROR(Infer(unknown_model), NOT_FOUND, "no_such_model");
}

// After every kind of bad request the server still serves, and /metrics has counted each failure
// with its code and reason (server/metrics.cc: theano_serving_request_errors_total).
TEST_F(ErrorsTest, ServerKeepsServingAndCountsErrors) {
  const Sample& good = samples_[0];
  v1::ClassifyRequest unknown_model = MakeClassifyRequest("no_such_model", {&good});
  v1::ClassifyRequest unknown_version = MakeClassifyRequest(kModel, {&good});
  unknown_version.set_model_version(7);
  v1::ClassifyRequest top_k = MakeClassifyRequest(kModel, {&good});
  top_k.set_top_k(11);
  v1::ClassifyRequest garbage = MakeClassifyRequest(kModel, {&good, &good});
  garbage.mutable_images(1)->set_data("not an image");
  v1::ClassifyRequest no_images;
  no_images.set_model_name(kModel);
  EXPECT_FALSE(Classify(unknown_model).ok());
  EXPECT_FALSE(Classify(unknown_version).ok());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Classify(top_k).ok());
  EXPECT_FALSE(Classify(garbage).ok());
  EXPECT_FALSE(Classify(no_images).ok());
  ModelInferRequest wrong_type = ValidTensor();
  wrong_type.mutable_inputs(0)->set_datatype("INT8");
  ModelInferRequest nan = ValidTensor();
  nan.mutable_inputs(0)->mutable_contents()->set_fp32_contents(0, std::nanf(""));
  EXPECT_FALSE(Infer(wrong_type).ok());
  EXPECT_FALSE(Infer(nan).ok());

  // Still healthy and still answering.
  ExpectServing();

  auto text = server_->Metrics();
  ASSERT_TRUE(text.ok()) << text.status();
  const std::vector<MetricSample> m = ParsePrometheusText(*text);
  const std::string errors = "theano_serving_request_errors_total";
  EXPECT_EQ(SumMetric(m, errors,
                      {{"api", "classify"}, {"code", "NOT_FOUND"}, {"reason", "unknown_model"}}),
            2)
      << *text;
  EXPECT_EQ(SumMetric(m, errors,
                      {{"api", "classify"}, {"code", "INVALID_ARGUMENT"}, {"reason", "top_k"}}),
            3);
  EXPECT_EQ(SumMetric(m, errors,
                      {{"api", "classify"}, {"code", "INVALID_ARGUMENT"}, {"reason", "bad_image"}}),
            1);
  EXPECT_EQ(SumMetric(m, errors,
                      {{"api", "classify"}, {"code", "INVALID_ARGUMENT"}, {"reason", "no_images"}}),
            1);
  EXPECT_EQ(
      SumMetric(m, errors,
                {{"api", "v2_infer"}, {"code", "INVALID_ARGUMENT"}, {"reason", "bad_tensor"}}),
      2);
  EXPECT_EQ(SumMetric(m, errors, {}), 9);
  // Every request, good or bad, is counted once by code.
  EXPECT_EQ(SumMetric(m, "theano_serving_requests_total", {{"api", "classify"}, {"code", "OK"}}),
            1);
  EXPECT_EQ(SumMetric(m, "theano_serving_requests_total", {}), 10);
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
