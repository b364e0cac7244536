// The import cases (tests/import/: files as Theano, Lasagne and Keras users saved them, with what
// real Theano 1.0.5 computed for them), imported by the ctest fixture `import_models`
// (tests/import/run_case.py writes build/import_models/<case>/1), served by the real server and
// asked over the Open Inference Protocol v2 with FP32 / FP64 tensors: every output must match
// Theano's within the case's tolerance with the same top-1, float64 models must answer in FP64,
// and tensor-only models must refuse encoded images with a message naming their shape.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "core/npz.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

std::string ImportModels() { return std::string(TS_BINARY_DIR) + "/import_models"; }
std::string CaseDir(const std::string& name) { return SourceDir() + "/tests/import/" + name; }

// The cases of tests/import (folders with a case.json), sorted.
std::vector<std::string> Cases() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(SourceDir() + "/tests/import")) {
    if (std::filesystem::exists(entry.path() / "case.json")) {
      out.push_back(entry.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Tensor<double> ReadNpy(const std::string& path) {
  auto array = ReadNpyFile(path);
  EXPECT_TRUE(array.ok()) << array.status();
  if (!array.ok()) return {};
  auto t = NpyToTensor<double>(*array, path);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : Tensor<double>();
}

class ImportServedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::is_directory(ImportModels()))
        << ImportModels()
        << " is missing: the import_<case> tests (fixture import_models) write it";
    ServerOptions options;
    options.model_repository = ImportModels();
    auto server = ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    v2_ = inference::GRPCInferenceService::NewStub(server_->channel());
    v1_ = v1::ClassificationService::NewStub(server_->channel());
  }

  grpc::Status Infer(const ModelInferRequest& request, ModelInferResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(60));
    return v2_->ModelInfer(&context, request, response);
  }

  static void SetDeadline(grpc::ClientContext* context, absl::Duration d) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + d));
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> v2_;
  std::unique_ptr<v1::ClassificationService::Stub> v1_;
};

TEST_F(ImportServedTest, EveryImportedCaseMatchesTheanoOverV2) {
  const std::vector<std::string> cases = Cases();
  ASSERT_GE(cases.size(), 14u);
  int checked = 0;
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    auto info = ReadJsonFile(CaseDir(name) + "/case.json");
    ASSERT_TRUE(info.ok()) << info.status();
    const bool f64 = info->value("dtype", "float32") == "float64";
    const Tensor<double> inputs = ReadNpy(CaseDir(name) + "/inputs.npy");
    const Tensor<double> expected = ReadNpy(CaseDir(name) + "/outputs.npy");
    ASSERT_GE(inputs.rank(), 2);

    ModelInferRequest request;
    request.set_model_name(name);
    auto* in = request.add_inputs();
    in->set_name("input");
    in->set_datatype(f64 ? "FP64" : "FP32");
    for (int64_t d : inputs.shape()) in->add_shape(d);
    // Every other case sends raw_input_contents (little-endian bytes), the others typed contents.
    const bool raw = checked % 2 == 1;
    if (f64) {
      if (raw) {
        request.add_raw_input_contents()->assign(reinterpret_cast<const char*>(inputs.data()),
                                                 sizeof(double) * inputs.values().size());
      } else {
        in->mutable_contents()->mutable_fp64_contents()->Add(inputs.data(),
                                                             inputs.data() + inputs.size());
      }
    } else {
      const std::vector<float> values(inputs.data(), inputs.data() + inputs.size());
      if (raw) {
        request.add_raw_input_contents()->assign(reinterpret_cast<const char*>(values.data()),
                                                 sizeof(float) * values.size());
      } else {
        in->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
      }
    }
    ModelInferResponse response;
    const grpc::Status status = Infer(request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.outputs_size(), 1);
    const auto& o = response.outputs(0);
    EXPECT_EQ(o.datatype(), f64 ? "FP64" : "FP32");
    ASSERT_EQ(std::vector<int64_t>(o.shape().begin(), o.shape().end()), expected.shape());
    std::vector<double> got(static_cast<size_t>(expected.size()));
    if (raw) {
      ASSERT_EQ(response.raw_output_contents_size(), 1);
      const std::string& bytes = response.raw_output_contents(0);
      if (f64) {
        ASSERT_EQ(bytes.size(), sizeof(double) * got.size());
        std::memcpy(got.data(), bytes.data(), bytes.size());
      } else {
        ASSERT_EQ(bytes.size(), sizeof(float) * got.size());
        std::vector<float> f(got.size());
        std::memcpy(f.data(), bytes.data(), bytes.size());
        std::copy(f.begin(), f.end(), got.begin());
      }
    } else if (f64) {
      ASSERT_EQ(o.contents().fp64_contents_size(), expected.size());
      std::copy(o.contents().fp64_contents().begin(), o.contents().fp64_contents().end(),
                got.begin());
    } else {
      ASSERT_EQ(o.contents().fp32_contents_size(), expected.size());
      std::copy(o.contents().fp32_contents().begin(), o.contents().fp32_contents().end(),
                got.begin());
    }
    // tests/import/README.md: atol 1e-5 / rtol 1e-4 (float64: 1e-10 / 1e-8), identical top-1.
    const double atol = f64 ? 1e-10 : 1e-5, rtol = f64 ? 1e-8 : 1e-4;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_LE(std::abs(got[i] - expected.data()[i]), atol + rtol * std::abs(expected.data()[i]))
          << "element " << i << ": served " << got[i] << ", Theano " << expected.data()[i];
    }
    if (expected.rank() == 2) {
      const int64_t k = expected.dim(1);
      for (int64_t r = 0; r < expected.dim(0); ++r) {
        const double* e = expected.data() + r * k;
        const double* g = got.data() + r * k;
        EXPECT_EQ(std::max_element(g, g + k) - g, std::max_element(e, e + k) - e) << "row " << r;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

TEST_F(ImportServedTest, MetadataGivesTheModelsDtypeAndShapes) {
  inference::ModelMetadataRequest request;
  request.set_name("lasagne_float64");
  inference::ModelMetadataResponse response;
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  ASSERT_TRUE(v2_->ModelMetadata(&context, request, &response).ok());
  ASSERT_EQ(response.inputs_size(), 1);
  EXPECT_EQ(response.inputs(0).datatype(), "FP64");
  EXPECT_EQ(
      std::vector<int64_t>(response.inputs(0).shape().begin(), response.inputs(0).shape().end()),
      (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "FP64");
  EXPECT_EQ(
      std::vector<int64_t>(response.outputs(0).shape().begin(), response.outputs(0).shape().end()),
      (std::vector<int64_t>{-1, 10}));

  v1::GetModelMetadataRequest v1_request;
  v1_request.set_name("lasagne_raw_tensor");
  v1::ModelMetadata metadata;
  grpc::ClientContext v1_context;
  SetDeadline(&v1_context, absl::Seconds(30));
  ASSERT_TRUE(v1_->GetModelMetadata(&v1_context, v1_request, &metadata).ok());
  EXPECT_FALSE(metadata.input().images());
  EXPECT_EQ(metadata.input().dtype(), "float32");
  EXPECT_EQ(std::vector<int64_t>(metadata.input().shape().begin(), metadata.input().shape().end()),
            (std::vector<int64_t>{4, 13, 11}));
  EXPECT_EQ(std::vector<int64_t>(metadata.output_shape().begin(), metadata.output_shape().end()),
            (std::vector<int64_t>{6}));
}

TEST_F(ImportServedTest, TensorOnlyModelsRefuseEncodedImages) {
  // A real PNG (a Fashion-MNIST sample), sent to the 4-channel sensor-grid model.
  auto png = ReadFileToString(SourceDir() + "/models/fashion_lenet/samples/0000_ankle_boot.png");
  ASSERT_TRUE(png.ok()) << png.status();

  v1::ClassifyRequest classify;
  classify.set_model_name("lasagne_raw_tensor");
  classify.add_images()->set_data(*png);
  v1::ClassifyResponse classified;
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  const grpc::Status refused = v1_->Classify(&context, classify, &classified);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(refused.error_message(),
            "model lasagne_raw_tensor takes tensors of shape (4, 13, 11) and outputs (N, 6): "
            "Classify needs encoded images in and one score per class out; use the OIP v2 "
            "ModelInfer with FP32/FP64 tensors");

  ModelInferRequest request;
  request.set_model_name("lasagne_raw_tensor");
  auto* in = request.add_inputs();
  in->set_name("input");
  in->set_datatype("BYTES");
  in->add_shape(1);
  in->mutable_contents()->add_bytes_contents(*png);
  ModelInferResponse response;
  const grpc::Status bytes = Infer(request, &response);
  EXPECT_EQ(bytes.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bytes.error_message(),
            "inputs[0].datatype is BYTES (encoded images), but model lasagne_raw_tensor takes "
            "tensors only: send FP32 or FP64 of shape [N, 4, 13, 11]");
}

TEST_F(ImportServedTest, CliInferSendsEachModelsDtypeAndShape) {
  // theano-serving-cli infer with the cases' own inputs.npy: FP64 for the float64 model (exact
  // values back), FP32 for the tensor-only sensor-grid model.
  struct Case {
    std::string name;
    double atol, rtol;  // tests/import/README.md
  };
  for (const auto& [name, atol, rtol] :
       {Case{"lasagne_float64", 1e-10, 1e-8}, Case{"lasagne_raw_tensor", 1e-5, 1e-4}}) {
    SCOPED_TRACE(name);
    const CommandResult result =
        RunCommand({BinDir() + "/theano-serving-cli", "infer", "--server", server_->grpc_address(),
                    "--model", name, "--json", CaseDir(name) + "/inputs.npy"},
                   absl::Seconds(60));
    ASSERT_TRUE(ExitedCleanly(result.status)) << result.output;
    const nlohmann::json out = nlohmann::json::parse(result.output, nullptr, false);
    ASSERT_TRUE(out.is_array()) << result.output;
    const Tensor<double> expected = ReadNpy(CaseDir(name) + "/outputs.npy");
    ASSERT_EQ(static_cast<int64_t>(out.size()), expected.dim(0));
    const int64_t k = expected.size() / expected.dim(0);
    for (int64_t r = 0; r < expected.dim(0); ++r) {
      const std::vector<double> row = out[static_cast<size_t>(r)].at("output");
      ASSERT_EQ(static_cast<int64_t>(row.size()), k);
      for (int64_t j = 0; j < k; ++j) {
        const double e = expected.data()[r * k + j];
        EXPECT_LE(std::abs(row[static_cast<size_t>(j)] - e), atol + rtol * std::abs(e))
            << "row " << r << " value " << j;
      }
    }
  }
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
