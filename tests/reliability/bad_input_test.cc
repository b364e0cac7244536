// The bad-input battery (issue 6) against the real server, beyond tests/integration/errors_test.cc:
// decompression bombs, tiny/huge/colour images, random and truncated bytes, negative top_k, too
// many images, oversized messages, Inf values, FP64 raw sizes, bad v2 versions, impossible tensor
// shapes, and model names that look like paths. Each case checks the gRPC code and that the
// message names the field; then the server must still be SERVING and /metrics must have counted
// each failure under its reason (theano_serving_request_errors_total{api,code,reason}).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/preprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "tests/testing/rpc_testing.h"
#include "theano_serving/v1/classification.grpc.pb.h"
#include "zlib.h"

namespace theano_serving {
namespace testing_util {
namespace {

using inference::ModelInferRequest;
using ::testing::HasSubstr;

constexpr int kMaxImages = 4;                      // --max_images_per_request
constexpr int kMaxMessageBytes = 6 * 1024 * 1024;  // --max_receive_message_bytes

void PutBigEndian32(std::string* s, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[pos + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
}

// A real PNG (a fashion_lenet sample) whose IHDR now claims width x height, CRC fixed: a
// decompression bomb as far as any header reader can tell.
std::string PngClaiming(const std::string& png, uint32_t width, uint32_t height) {
  std::string s = png;
  PutBigEndian32(&s, 16, width);
  PutBigEndian32(&s, 20, height);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data() + 12), 17));  // "IHDR" + 13 data bytes
  PutBigEndian32(&s, 29, crc);
  return s;
}

// A real baseline JPEG (tests/fuzz/seed_images/sample0.jpg, OpenCV's encoding of sample 0000)
// whose SOF0 frame header now claims width x height.
std::string JpegClaiming(uint16_t width, uint16_t height) {
  auto jpg = ReadFileToString(SourceDir() + "/tests/fuzz/seed_images/sample0.jpg");
  if (!jpg.ok()) return "";
  std::string s = *jpg;
  for (size_t i = 2; i + 9 < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xFF && static_cast<unsigned char>(s[i + 1]) == 0xC0) {
      s[i + 5] = static_cast<char>(height >> 8);
      s[i + 6] = static_cast<char>(height & 0xFF);
      s[i + 7] = static_cast<char>(width >> 8);
      s[i + 8] = static_cast<char>(width & 0xFF);
      return s;
    }
  }
  return "";
}

std::string Encode(int height, int width, int channels) {
  std::vector<uint8_t> pixels(static_cast<size_t>(height) * width * channels);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 7) % 251);
  auto png = EncodeImage(pixels.data(), height, width, channels, "png");
  return png.ok() ? *png : "";
}

class BadInputTest : public ServedModelTest {
 protected:
  BadInputTest() : ServedModelTest(Limits()) {}

  static ServerOptions Limits() {
    ServerOptions options;
    options.extra_args = {absl::StrCat("--max_images_per_request=", kMaxImages),
                          absl::StrCat("--max_receive_message_bytes=", kMaxMessageBytes)};
    return options;
  }

  static v1::ClassifyRequest ClassifyImages(const std::vector<std::string>& images) {
    v1::ClassifyRequest request;
    request.set_model_name(kModel);
    for (const std::string& data : images) request.add_images()->set_data(data);
    return request;
  }

  static ModelInferRequest Tensor(const std::string& datatype, std::vector<int64_t> shape) {
    ModelInferRequest request;
    request.set_model_name(kModel);
    auto* in = request.add_inputs();
    in->set_name("input");
    in->set_datatype(datatype);
    for (int64_t d : shape) in->add_shape(d);
    return request;
  }

  static ModelInferRequest Fp32(int n = 1) {
    ModelInferRequest request = Tensor("FP32", {n, 1, 28, 28});
    for (int i = 0; i < 784 * n; ++i)
      request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
    return request;
  }

  static ModelInferRequest Images(const std::vector<std::string>& images) {
    ModelInferRequest request = Tensor("BYTES", {static_cast<int64_t>(images.size())});
    for (const std::string& b : images) {
      request.mutable_inputs(0)->mutable_contents()->add_bytes_contents(b);
    }
    return request;
  }
};

TEST_F(BadInputTest, DecompressionBombsAreRefusedFromTheHeader) {
  const std::string png_bomb = PngClaiming(samples_[0].png, 100000, 100000);
  const std::string jpeg_bomb = JpegClaiming(65000, 65000);
  ASSERT_FALSE(jpeg_bomb.empty());
  EXPECT_RPC_ERROR(Classify(ClassifyImages({samples_[0].png, png_bomb})), RESOURCE_EXHAUSTED,
                   "images[1]");
  EXPECT_RPC_ERROR(Classify(ClassifyImages({jpeg_bomb})), RESOURCE_EXHAUSTED, "images[0]");
  EXPECT_RPC_ERROR(Infer(Images({png_bomb})), RESOURCE_EXHAUSTED, "images[0]");
  // Just over the default limit (4096 * 4096 pixels) is refused the same way.
  EXPECT_RPC_ERROR(Classify(ClassifyImages({PngClaiming(samples_[0].png, 4097, 4096)})),
                   RESOURCE_EXHAUSTED, "images[0]");
  // A TIFF header claiming 4294967295 x 4294967295 (found by tests/fuzz/fuzz_image): the pixel
  // count overflows int64, so the check divides instead of multiplying (CheckImagePixels).
  auto tiff = ReadFileToString(
      SourceDir() + "/tests/fuzz/regressions/fuzz_image/tiff_claims_4294967295x4294967295");
  ASSERT_TRUE(tiff.ok());
  EXPECT_RPC_ERROR(Classify(ClassifyImages({*tiff})), RESOURCE_EXHAUSTED, "images[0]");
  // A 538-byte 12060x28 TIFF whose RowsPerStrip (63260) made OpenCV allocate a 3 GB strip (found
  // by fuzzing in CI, docs/RELIABILITY.md finding 10): the strip counts against the limit.
  auto strip = ReadFileToString(SourceDir() +
                                "/tests/fuzz/regressions/fuzz_image/"
                                "tiff_12060x28_rowsperstrip_63260_allocates_3gb");
  ASSERT_TRUE(strip.ok());
  EXPECT_RPC_ERROR(Classify(ClassifyImages({*strip})), RESOURCE_EXHAUSTED,
                   "images[0]: tiff header says 12060x28 pixels in strips of 12060x63260");
  EXPECT_EQ(ErrorCount("classify", "RESOURCE_EXHAUSTED", "image_too_large"), 5);
  EXPECT_EQ(ErrorCount("v2_infer", "RESOURCE_EXHAUSTED", "image_too_large"), 1);
  ExpectServing();
}

TEST_F(BadInputTest, TinyHugeAndColourImagesAreServed) {
  const std::string one = Encode(1, 1, 1);
  const std::string big = Encode(2000, 2000, 1);  // 4 Mpixel: legal, resized to 28x28
  const std::string colour = Encode(40, 30, 3);   // colour to the grayscale model: converted
  ASSERT_FALSE(one.empty());
  ASSERT_FALSE(big.empty());
  ASSERT_LT(big.size(), static_cast<size_t>(kMaxMessageBytes));
  v1::ClassifyResponse response;
  grpc::Status s = Classify(ClassifyImages({one, big, colour}), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.results_size(), 3);
  for (const auto& r : response.results()) EXPECT_EQ(r.classes_size(), 5);
  EXPECT_TRUE(Infer(Images({one, colour})).ok());
  ExpectServing();
}

TEST_F(BadInputTest, RandomEmptyAndTruncatedBytesNameTheImage) {
  std::string random(4096, '\0');
  uint32_t x = 12345;
  for (char& c : random) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
  auto jpg = ReadFileToString(SourceDir() + "/tests/fuzz/seed_images/sample0.jpg");
  ASSERT_TRUE(jpg.ok());
  const std::string png = samples_[0].png;
  EXPECT_RPC_ERROR(Classify(ClassifyImages({png, random})), INVALID_ARGUMENT, "images[1]");
  EXPECT_RPC_ERROR(Classify(ClassifyImages({""})), INVALID_ARGUMENT, "images[0].data is empty");
  // A JPEG cut inside its header, a JPEG with only its SOI marker, a PNG cut after the signature.
  EXPECT_RPC_ERROR(Classify(ClassifyImages({png, jpg->substr(0, 100)})), INVALID_ARGUMENT,
                   "images[1]");
  EXPECT_RPC_ERROR(Classify(ClassifyImages({jpg->substr(0, 2)})), INVALID_ARGUMENT, "images[0]");
  EXPECT_RPC_ERROR(Classify(ClassifyImages({png.substr(0, 8)})), INVALID_ARGUMENT, "images[0]");
  EXPECT_RPC_ERROR(Infer(Images({random})), INVALID_ARGUMENT, "images[0]");
  EXPECT_EQ(ErrorCount("classify", "INVALID_ARGUMENT", "bad_image"), 5);
  EXPECT_EQ(ErrorCount("v2_infer", "INVALID_ARGUMENT", "bad_image"), 1);
  ExpectServing();
}

// A JPEG truncated in its entropy-coded data: libjpeg pads the missing rows (a warning, not an
// error), so OpenCV returns an image. Either answer is acceptable; never a crash or INTERNAL.
TEST_F(BadInputTest, JpegTruncatedInItsDataIsOkOrInvalid) {
  auto jpg = ReadFileToString(SourceDir() + "/tests/fuzz/seed_images/sample0.jpg");
  ASSERT_TRUE(jpg.ok());
  const grpc::Status s = Classify(ClassifyImages({jpg->substr(0, jpg->size() / 2)}));
  EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  if (!s.ok()) {
    EXPECT_THAT(s.error_message(), HasSubstr("images[0]"));
  }
  ExpectServing();
}

TEST_F(BadInputTest, LimitsAreResourceExhausted) {
  v1::ClassifyRequest negative = ClassifyImages({samples_[0].png});
  negative.set_top_k(-3);
  EXPECT_RPC_ERROR(Classify(negative), INVALID_ARGUMENT, "top_k");
  EXPECT_THAT(Classify(negative).error_message(), HasSubstr("-3"));

  const std::vector<std::string> five(kMaxImages + 1, samples_[0].png);
  EXPECT_RPC_ERROR(Classify(ClassifyImages(five)), RESOURCE_EXHAUSTED, "images");
  EXPECT_RPC_ERROR(Infer(Images(five)), RESOURCE_EXHAUSTED, "images");
  EXPECT_TRUE(Classify(ClassifyImages(std::vector<std::string>(kMaxImages, samples_[0].png))).ok());

  // Larger than --max_receive_message_bytes: refused by gRPC before any handler runs, so the
  // message is gRPC's and the request is not in theano_serving's metrics.
  v1::ClassifyRequest oversized = ClassifyImages({std::string(kMaxMessageBytes + 1024, 'x')});
  EXPECT_RPC_ERROR(Classify(oversized), RESOURCE_EXHAUSTED, "message");

  EXPECT_EQ(ErrorCount("classify", "INVALID_ARGUMENT", "top_k"), 2);
  EXPECT_EQ(ErrorCount("classify", "RESOURCE_EXHAUSTED", "too_many_images"), 1);
  EXPECT_EQ(ErrorCount("v2_infer", "RESOURCE_EXHAUSTED", "too_many_images"), 1);
  ExpectServing();
}

TEST_F(BadInputTest, V2TensorMistakesNameTheField) {
  ModelInferRequest inf = Fp32();
  inf.mutable_inputs(0)->mutable_contents()->set_fp32_contents(
      17, std::numeric_limits<float>::infinity());
  EXPECT_RPC_ERROR(Infer(inf), INVALID_ARGUMENT, "fp32_contents[17]");

  ModelInferRequest inf64 = Tensor("FP64", {1, 1, 28, 28});
  for (int i = 0; i < 784; ++i) inf64.mutable_inputs(0)->mutable_contents()->add_fp64_contents(0);
  inf64.mutable_inputs(0)->mutable_contents()->set_fp64_contents(
      3, -std::numeric_limits<double>::infinity());
  EXPECT_RPC_ERROR(Infer(inf64), INVALID_ARGUMENT, "fp64_contents[3]");

  ModelInferRequest raw_inf = Tensor("FP32", {1, 1, 28, 28});
  std::vector<float> values(784, 0.25f);
  values[700] = std::numeric_limits<float>::infinity();
  raw_inf.add_raw_input_contents()->assign(reinterpret_cast<const char*>(values.data()),
                                           values.size() * sizeof(float));
  EXPECT_RPC_ERROR(Infer(raw_inf), INVALID_ARGUMENT, "raw_input_contents[0][700]");

  // FP64 raw contents sized for FP32.
  ModelInferRequest fp64_raw = Tensor("FP64", {1, 1, 28, 28});
  fp64_raw.add_raw_input_contents()->assign(784 * sizeof(float), '\0');
  EXPECT_RPC_ERROR(Infer(fp64_raw), INVALID_ARGUMENT, "raw_input_contents[0]");
  ModelInferRequest fp64_ok = Tensor("FP64", {1, 1, 28, 28});
  fp64_ok.add_raw_input_contents()->assign(784 * sizeof(double), '\0');
  EXPECT_TRUE(Infer(fp64_ok).ok());

  ModelInferRequest bad_version = Fp32();
  bad_version.set_model_version("abc");
  EXPECT_RPC_ERROR(Infer(bad_version), INVALID_ARGUMENT, "model_version");
  bad_version.set_model_version("-1");
  EXPECT_RPC_ERROR(Infer(bad_version), INVALID_ARGUMENT, "model_version");
  ModelInferRequest missing_version = Fp32();
  missing_version.set_model_version("7");
  EXPECT_RPC_ERROR(Infer(missing_version), NOT_FOUND, "version 7");

  ModelInferRequest negative_dim = Tensor("FP32", {-1, 1, 28, 28});
  EXPECT_RPC_ERROR(Infer(negative_dim), INVALID_ARGUMENT, "inputs[0].shape");
  ModelInferRequest two_inputs = Fp32();
  *two_inputs.add_inputs() = two_inputs.inputs(0);
  EXPECT_RPC_ERROR(Infer(two_inputs), INVALID_ARGUMENT, "inputs");
  ModelInferRequest bytes_count = Images({samples_[0].png});
  bytes_count.mutable_inputs(0)->set_shape(0, 3);
  EXPECT_RPC_ERROR(Infer(bytes_count), INVALID_ARGUMENT, "bytes_contents");
  ModelInferRequest unknown_output = Fp32();
  unknown_output.add_outputs()->set_name("logits");
  EXPECT_RPC_ERROR(Infer(unknown_output), INVALID_ARGUMENT, "outputs[0].name");
  ModelInferRequest top0 = Fp32();
  auto* out = top0.add_outputs();
  out->set_name("output");
  (*out->mutable_parameters())["classification"].set_int64_param(0);
  EXPECT_RPC_ERROR(Infer(top0), INVALID_ARGUMENT, "classification");

  EXPECT_EQ(ErrorCount("v2_infer", "INVALID_ARGUMENT", "bad_tensor"), 7);
  EXPECT_EQ(ErrorCount("v2_infer", "INVALID_ARGUMENT", "bad_request"), 2);
  EXPECT_EQ(ErrorCount("v2_infer", "INVALID_ARGUMENT", "bad_output"), 2);
  EXPECT_EQ(ErrorCount("v2_infer", "NOT_FOUND", "unknown_model"), 1);
  ExpectServing();
}

// A tiny message whose shape claims an enormous tensor (and one whose element count overflows
// int64) must be refused by comparing the count with the contents, never by allocating it first
// (server/inference_service.cc ParseInput). Before that check the first request made the server
// throw std::length_error inside the handler (gRPC answered UNIMPLEMENTED with no message, nothing
// was counted in /metrics and the in-flight gauge stayed up), a shape of [1048576, 1, 28, 28]
// zero-filled 3.3 GB, and the second overflowed `count *= shape[i]` (signed overflow, UB).
TEST_F(BadInputTest, V2ShapesClaimingHugeTensorsAreRefusedWithoutAllocating) {
  ModelInferRequest huge = Tensor("FP32", {int64_t{1} << 40, 1, 28, 28});
  huge.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  EXPECT_RPC_ERROR(Infer(huge), INVALID_ARGUMENT, "shape");
  ModelInferRequest overflow = Tensor("FP32", {int64_t{1} << 62, 1, 28, 28});
  overflow.add_raw_input_contents()->assign(16, '\0');
  EXPECT_RPC_ERROR(Infer(overflow), INVALID_ARGUMENT, "shape");
  ModelInferRequest bytes_huge = Tensor("BYTES", {int64_t{1} << 40});
  EXPECT_RPC_ERROR(Infer(bytes_huge), INVALID_ARGUMENT, "shape");
  EXPECT_EQ(ErrorCount("v2_infer", "INVALID_ARGUMENT", "bad_tensor"), 3);
  ExpectServing();
}

// --max_images_per_request bounds tensor requests too (N of an (N, C, H, W) FP32 tensor), as it
// bounds encoded images: InferenceRunner::RunTensor checks it (docs/RELIABILITY.md finding 3).
TEST_F(BadInputTest, V2TensorBatchRespectsMaxImagesPerRequest) {
  EXPECT_TRUE(Infer(Fp32(kMaxImages)).ok());
  EXPECT_RPC_ERROR(Infer(Fp32(kMaxImages + 1)), RESOURCE_EXHAUSTED, "images");
  ExpectServing();
}

// No request can name a path: model names are keys of the repository's in-memory table
// (server/model_repository.cc ModelRepository::Get), never joined to a directory.
TEST_F(BadInputTest, ModelNamesThatLookLikePathsAreNotFound) {
  const std::vector<std::string> names = {"../x",
                                          "/etc",
                                          "/etc/passwd",
                                          "fashion_lenet/../fashion_lenet",
                                          "./fashion_lenet",
                                          "fashion_lenet/1",
                                          "../models/fashion_lenet",
                                          "fashion_lenet/",
                                          std::string("fashion_lenet\0x", 15),
                                          "%2e%2e%2fx"};
  auto infer_metadata = [&](const std::string& name) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    inference::ModelMetadataRequest request;
    request.set_name(name);
    inference::ModelMetadataResponse response;
    return infer_->ModelMetadata(&context, request, &response);
  };
  auto metadata = [&](const std::string& name) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    v1::GetModelMetadataRequest request;
    request.set_name(name);
    v1::ModelMetadata response;
    return classify_->GetModelMetadata(&context, request, &response);
  };
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    v1::ClassifyRequest c = ClassifyImages({samples_[0].png});
    c.set_model_name(name);
    EXPECT_RPC_ERROR(Classify(c), NOT_FOUND, "is not in the repository");
    ModelInferRequest v = Fp32();
    v.set_model_name(name);
    EXPECT_RPC_ERROR(Infer(v), NOT_FOUND, "is not in the repository");
    EXPECT_EQ(metadata(name).error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(infer_metadata(name).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(ErrorCount("classify", "NOT_FOUND", "unknown_model"), names.size());
  EXPECT_EQ(ErrorCount("v2_infer", "NOT_FOUND", "unknown_model"), names.size());
  ExpectServing();
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
