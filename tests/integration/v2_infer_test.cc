// Open Inference Protocol v2 ModelInfer against the real server, checked against Theano's outputs
// for the first 200 Fashion-MNIST test images (tests/data/fashion_lenet/golden.json, Theano 1.0.5)
// and against the server's own Classify for encoded images.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

class V2InferTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { golden_ = new Golden(LoadGolden()); }
  static void TearDownTestSuite() {
    delete golden_;
    golden_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(golden_->n, 200);
    // All 200 golden images go in one request: above the default 64 images per request.
    ServerOptions options;
    options.extra_args = {"--max_images_per_request=200"};
    auto server = ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = inference::GRPCInferenceService::NewStub(server_->channel());
  }

  grpc::Status Infer(const ModelInferRequest& request, ModelInferResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(60));
    return stub_->ModelInfer(&context, request, response);
  }

  // A request header for a tensor input [n, 1, 28, 28] of `datatype` (contents added by the test).
  static ModelInferRequest TensorRequest(const std::string& datatype, int n) {
    ModelInferRequest request;
    request.set_model_name(kModel);
    request.set_id("golden");
    auto* in = request.add_inputs();
    in->set_name("input");
    in->set_datatype(datatype);
    for (int64_t d : {int64_t{n}, int64_t{1}, int64_t{28}, int64_t{28}}) in->add_shape(d);
    return request;
  }

  static std::vector<float> GoldenInputs(int first, int n) {
    const std::vector<float> all = golden_->Inputs();
    return std::vector<float>(all.begin() + first * 784, all.begin() + (first + n) * 784);
  }

  // The FP32 output tensor of `response` ([n, 10]), from raw_output_contents or fp32_contents.
  static std::vector<float> Output(const ModelInferResponse& response, int n) {
    std::vector<float> out;
    EXPECT_EQ(response.outputs_size(), 1);
    if (response.outputs_size() != 1) return out;
    const auto& o = response.outputs(0);
    EXPECT_EQ(o.name(), "output");
    EXPECT_EQ(o.datatype(), "FP32");
    EXPECT_EQ(o.shape_size(), 2);
    if (o.shape_size() == 2) {
      EXPECT_EQ(o.shape(0), n);
      EXPECT_EQ(o.shape(1), kClasses);
    }
    if (response.raw_output_contents_size() > 0) {
      const std::string& raw = response.raw_output_contents(0);
      out.resize(raw.size() / sizeof(float));
      std::memcpy(out.data(), raw.data(), out.size() * sizeof(float));
    } else {
      out.assign(o.contents().fp32_contents().begin(), o.contents().fp32_contents().end());
    }
    EXPECT_EQ(out.size(), static_cast<size_t>(n) * kClasses);
    return out;
  }

  // Every probability within kTheanoAtol of Theano's and the same argmax (golden rows [first..)).
  static void ExpectGolden(const std::vector<float>& out, int first, int n) {
    ASSERT_EQ(out.size(), static_cast<size_t>(n) * kClasses);
    int mismatched_predictions = 0;
    for (int i = 0; i < n; ++i) {
      const float* row = out.data() + i * kClasses;
      const float* want = golden_->probabilities.data() + (first + i) * kClasses;
      for (int j = 0; j < kClasses; ++j) {
        ASSERT_NEAR(row[j], want[j], kTheanoAtol) << "image " << first + i << " class " << j;
      }
      if (ArgMax(row, kClasses) != golden_->predictions[static_cast<size_t>(first + i)]) {
        ++mismatched_predictions;
      }
    }
    EXPECT_EQ(mismatched_predictions, 0);
  }

  static Golden* golden_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};
Golden* V2InferTest::golden_ = nullptr;

TEST_F(V2InferTest, Fp32RawAndTypedMatchTheano) {
  const std::vector<float> inputs = GoldenInputs(0, 200);

  ModelInferRequest raw = TensorRequest("FP32", 200);
  raw.add_raw_input_contents()->assign(reinterpret_cast<const char*>(inputs.data()),
                                       inputs.size() * sizeof(float));
  ModelInferResponse raw_response;
  grpc::Status status = Infer(raw, &raw_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(raw_response.model_name(), kModel);
  EXPECT_EQ(raw_response.model_version(), "1");
  EXPECT_EQ(raw_response.id(), "golden");
  ASSERT_EQ(raw_response.raw_output_contents_size(), 1) << "raw in, raw out";
  const std::vector<float> from_raw = Output(raw_response, 200);
  ExpectGolden(from_raw, 0, 200);

  ModelInferRequest typed = TensorRequest("FP32", 200);
  typed.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Add(inputs.begin(),
                                                                            inputs.end());
  ModelInferResponse typed_response;
  status = Infer(typed, &typed_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(typed_response.raw_output_contents_size(), 0) << "typed in, typed out";
  const std::vector<float> from_typed = Output(typed_response, 200);
  ExpectGolden(from_typed, 0, 200);
  // Same input, same engine: identical bits either way.
  EXPECT_EQ(from_raw, from_typed);
}

// FP64 inputs are converted to float32 by the server: the float32 inputs widened to double must
// give exactly the FP32 answer.
TEST_F(V2InferTest, Fp64TypedAndRawMatchFp32) {
  const std::vector<float> inputs = GoldenInputs(0, 200);
  const std::vector<double> wide(inputs.begin(), inputs.end());

  ModelInferRequest fp32 = TensorRequest("FP32", 200);
  fp32.add_raw_input_contents()->assign(reinterpret_cast<const char*>(inputs.data()),
                                        inputs.size() * sizeof(float));
  ModelInferResponse fp32_response;
  ASSERT_TRUE(Infer(fp32, &fp32_response).ok());
  const std::vector<float> want = Output(fp32_response, 200);

  ModelInferRequest typed = TensorRequest("FP64", 200);
  typed.mutable_inputs(0)->mutable_contents()->mutable_fp64_contents()->Add(wide.begin(),
                                                                            wide.end());
  ModelInferResponse typed_response;
  grpc::Status status = Infer(typed, &typed_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  const std::vector<float> from_typed = Output(typed_response, 200);
  ExpectGolden(from_typed, 0, 200);
  EXPECT_EQ(from_typed, want);

  ModelInferRequest raw = TensorRequest("FP64", 200);
  raw.add_raw_input_contents()->assign(reinterpret_cast<const char*>(wide.data()),
                                       wide.size() * sizeof(double));
  ModelInferResponse raw_response;
  status = Infer(raw, &raw_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(Output(raw_response, 200), want);
}

// BYTES inputs are encoded images, decoded like Classify's: the same scores as Classify (top_k =
// all classes), and Theano's within kTheanoAtol.
TEST_F(V2InferTest, BytesImagesMatchClassify) {
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_EQ(samples.size(), 20u);
  const int n = 20;

  std::vector<const Sample*> all;
  for (const Sample& s : samples) all.push_back(&s);
  v1::ClassifyRequest classify = MakeClassifyRequest(kModel, all);
  classify.set_top_k(kClasses);
  v1::ClassifyResponse classified;
  {
    auto classify_stub = v1::ClassificationService::NewStub(server_->channel());
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(30));
    grpc::Status status = classify_stub->Classify(&context, classify, &classified);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  }
  ASSERT_EQ(classified.results_size(), n);
  std::vector<float> want(static_cast<size_t>(n) * kClasses, -1.0f);
  for (int i = 0; i < n; ++i) {
    for (const v1::Class& c : classified.results(i).classes()) {
      want[static_cast<size_t>(i * kClasses + c.index())] = c.score();
    }
  }

  // Typed: bytes_contents, shape [N].
  ModelInferRequest typed;
  typed.set_model_name(kModel);
  auto* in = typed.add_inputs();
  in->set_name("input");
  in->set_datatype("BYTES");
  in->add_shape(n);
  for (const Sample& s : samples) in->mutable_contents()->add_bytes_contents(s.png);
  ModelInferResponse typed_response;
  grpc::Status status = Infer(typed, &typed_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  const std::vector<float> from_typed = Output(typed_response, n);

  // Raw: each element a 4-byte little-endian length then the bytes, shape [N, 1].
  ModelInferRequest raw = typed;
  raw.mutable_inputs(0)->clear_contents();
  raw.mutable_inputs(0)->add_shape(1);
  std::string* buffer = raw.add_raw_input_contents();
  for (const Sample& s : samples) {
    const uint32_t len = static_cast<uint32_t>(s.png.size());
    buffer->append(reinterpret_cast<const char*>(&len), 4);
    buffer->append(s.png);
  }
  ModelInferResponse raw_response;
  status = Infer(raw, &raw_response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  const std::vector<float> from_raw = Output(raw_response, n);

  ASSERT_EQ(from_typed.size(), want.size());
  ASSERT_EQ(from_raw.size(), want.size());
  for (int i = 0; i < n; ++i) {
    const Sample& s = samples[static_cast<size_t>(i)];
    EXPECT_EQ(ArgMax(from_typed.data() + i * kClasses, kClasses), s.prediction) << s.file;
    EXPECT_EQ(ArgMax(from_raw.data() + i * kClasses, kClasses), s.prediction) << s.file;
    for (int j = 0; j < kClasses; ++j) {
      const size_t at = static_cast<size_t>(i * kClasses + j);
      EXPECT_NEAR(from_typed[at], want[at], 1e-6f) << s.file << " class " << j;
      EXPECT_NEAR(from_raw[at], want[at], 1e-6f) << s.file << " class " << j;
      EXPECT_NEAR(from_typed[at], s.probabilities[static_cast<size_t>(j)], kTheanoAtol);
    }
  }
}

// The classification extension: output parameter "classification" = 3 turns the output into
// BYTES [N, 3] of "score:index:label", best first.
TEST_F(V2InferTest, ClassificationExtensionGivesTop3Strings) {
  const int n = 20;
  const std::vector<float> inputs = GoldenInputs(0, n);
  ModelInferRequest request = TensorRequest("FP32", n);
  request.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->Add(inputs.begin(),
                                                                              inputs.end());
  auto* out = request.add_outputs();
  out->set_name("output");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  const auto& o = response.outputs(0);
  EXPECT_EQ(o.datatype(), "BYTES");
  ASSERT_EQ(o.shape_size(), 2);
  EXPECT_EQ(o.shape(0), n);
  EXPECT_EQ(o.shape(1), 3);
  ASSERT_EQ(o.contents().bytes_contents_size(), n * 3);
  const std::vector<std::string> labels = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                           "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                           "Bag",         "Ankle boot"};
  for (int i = 0; i < n; ++i) {
    float previous = 2.0f;
    for (int r = 0; r < 3; ++r) {
      const std::string& text = o.contents().bytes_contents(i * 3 + r);
      SCOPED_TRACE(absl::StrCat("image ", i, " rank ", r, ": \"", text, "\""));
      const std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits(':', 2));
      ASSERT_EQ(parts.size(), 3u);
      float score = 0;
      int index = -1;
      ASSERT_TRUE(absl::SimpleAtof(parts[0], &score));
      ASSERT_TRUE(absl::SimpleAtoi(parts[1], &index));
      ASSERT_GE(index, 0);
      ASSERT_LT(index, kClasses);
      EXPECT_EQ(parts[2], labels[static_cast<size_t>(index)]);
      EXPECT_NEAR(score, golden_->probabilities[static_cast<size_t>(i * kClasses + index)],
                  kTheanoAtol);
      if (r == 0) {
        EXPECT_EQ(index, golden_->predictions[static_cast<size_t>(i)]);
      }
      EXPECT_LE(score, previous) << "not best first";
      previous = score;
    }
  }
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
