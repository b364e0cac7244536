// Model directories, good and bad: every broken one is refused at load with a
// message naming the file, layer, parameter and numbers — never a crash.
#include "core/model_loader.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/npz.h"
#include "core/preprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;

Tensor<float> Filled(Shape shape, float start = 0.01f) {
  Tensor<float> t(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = start * static_cast<float>(i % 7 - 3);
  return t;
}

// A small valid model: (1, 6, 6) → conv 3x3 → max pool 2 → flatten → dense 8→3
// → softmax.
nlohmann::json TinyModelJson() {
  return nlohmann::json::parse(R"({
    "name": "tiny",
    "input": {"shape": [1, 6, 6], "grayscale": true, "scale": 0.00392156862745098,
              "layout": "documentation keys are ignored"},
    "classes": ["a", "b", "c"],
    "layers": [
      {"op": "conv2d", "attrs": {"border_mode": "valid", "filter_flip": true}, "params": ["W0"]},
      {"op": "pool_2d", "attrs": {"ws": [2, 2], "ignore_border": true, "mode": "max"}},
      {"op": "flatten", "attrs": {"ndim": 2}},
      {"op": "dense", "params": ["W1", "b1"]},
      {"op": "softmax"}
    ],
    "param_layout": {"W0": "ignored documentation"}
  })");
}

std::vector<std::pair<std::string, std::string>> TinyParams() {
  return {{"W0", SerializeNpy(Filled({2, 1, 3, 3}))},
          {"W1", SerializeNpy(Filled({8, 3}))},
          {"b1", SerializeNpy(Filled({3}))}};
}

class ModelLoaderTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/model_loader_test_" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const nlohmann::json& model,
             const std::vector<std::pair<std::string, std::string>>& params,
             bool compress = false) {
    std::ofstream(dir_ + "/model.json") << model.dump(1);
    if (params.empty()) return;  // A model without parameters needs no params.npz.
    ASSERT_TRUE(WriteNpzFile(dir_ + "/params.npz", params, compress).ok());
  }

  absl::Status Load() { return LoadModel(dir_).status(); }

  std::string dir_;
};

TEST_F(ModelLoaderTest, TinyModelLoadsStoredAndCompressed) {
  for (bool compress : {false, true}) {
    Write(TinyModelJson(), TinyParams(), compress);
    auto model = LoadModel(dir_);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->name(), "tiny");
    EXPECT_EQ((*model)->num_outputs(), 3);
    EXPECT_EQ((*model)->layers()[1].output_shape, (Shape{1, 2, 2, 2}));
    Tensor<float> batch({4, 1, 6, 6});
    auto out = (*model)->Predict(batch);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->shape(), (Shape{4, 3}));
  }
}

TEST_F(ModelLoaderTest, PredictRefusesAWrongInputShape) {
  Write(TinyModelJson(), TinyParams());
  auto model = LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Predict(Tensor<float>({2, 1, 7, 6}));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("(N, 1, 6, 6), got (2, 1, 7, 6)"));
}

TEST_F(ModelLoaderTest, MissingModelJsonIsNotFound) {
  auto s = LoadModel(dir_ + "/nope").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("model.json"));
}

TEST_F(ModelLoaderTest, InvalidJsonNamesTheFile) {
  std::ofstream(dir_ + "/model.json") << "{\"layers\": [";
  EXPECT_THAT(Load().message(), HasSubstr("model.json: invalid JSON"));
}

TEST_F(ModelLoaderTest, MissingParamNamesLayerAndParam) {
  auto params = TinyParams();
  params.pop_back();  // no b1
  Write(TinyModelJson(), params);
  EXPECT_THAT(Load().message(), HasSubstr("layer 3 (dense): parameter b1 is not in"));
}

TEST_F(ModelLoaderTest, ExtraParamIsRefused) {
  auto params = TinyParams();
  params.emplace_back("W9", SerializeNpy(Filled({2})));
  Write(TinyModelJson(), params);
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("member W9"));
  EXPECT_THAT(s.message(), HasSubstr("is not used by any layer"));
}

TEST_F(ModelLoaderTest, WrongFilterShapeNamesLayerAndNumbers) {
  auto params = TinyParams();
  params[0].second = SerializeNpy(Filled({2, 3, 3, 3}));  // 3 input channels, the image has 1
  Write(TinyModelJson(), params);
  absl::Status s = Load();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("layer 0 (conv2d)"));
  EXPECT_THAT(s.message(), HasSubstr("input has 1 channels, filters expect 3"));
  EXPECT_THAT(s.message(), HasSubstr("for input (1, 1, 6, 6)"));
}

TEST_F(ModelLoaderTest, WrongDenseShapeNamesBothShapes) {
  auto params = TinyParams();
  params[1].second = SerializeNpy(Filled({9, 3}));
  Write(TinyModelJson(), params);
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("layer 3 (dense)"));
  EXPECT_THAT(s.message(), HasSubstr("9"));
}

TEST_F(ModelLoaderTest, UnknownOpListsKnownOps) {
  nlohmann::json m = TinyModelJson();
  m["layers"][4]["op"] = "softmaxx";
  Write(m, TinyParams());
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("unknown op \"softmaxx\""));
  EXPECT_THAT(s.message(), HasSubstr("log_softmax"));
}

TEST_F(ModelLoaderTest, UnknownAttributeIsRefused) {
  nlohmann::json m = TinyModelJson();
  m["layers"][1]["attrs"]["window"] = 2;
  Write(m, TinyParams());
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("layer 1 (pool_2d)"));
  EXPECT_THAT(s.message(), HasSubstr("window"));
}

TEST_F(ModelLoaderTest, UnknownLayerKeyIsRefused) {
  nlohmann::json m = TinyModelJson();
  m["layers"][0]["param"] = {"W0"};
  Write(m, TinyParams());
  EXPECT_THAT(Load().message(), HasSubstr("layers[0]: unknown key \"param\""));
}

TEST_F(ModelLoaderTest, TruncatedNpzIsRefused) {
  Write(TinyModelJson(), TinyParams());
  const std::string npz = dir_ + "/params.npz";
  const auto size = std::filesystem::file_size(npz);
  std::filesystem::resize_file(npz, size / 2);
  absl::Status s = Load();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("params.npz"));
}

TEST_F(ModelLoaderTest, NonFloatArrayIsRefused) {
  auto params = TinyParams();
  params[2].second = SerializeNpy(Filled({3}));
  params[2].second.replace(params[2].second.find("<f4"), 3, "<i4");
  Write(TinyModelJson(), params);
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("member b1"));
  EXPECT_THAT(s.message(), HasSubstr("<i4"));
}

TEST_F(ModelLoaderTest, NanWeightIsRefused) {
  auto params = TinyParams();
  Tensor<float> w = Filled({8, 3});
  w.data()[5] = std::numeric_limits<float>::quiet_NaN();
  params[1].second = SerializeNpy(w);
  Write(TinyModelJson(), params);
  absl::Status s = Load();
  EXPECT_THAT(s.message(), HasSubstr("member W1: element 5 is nan"));
}

TEST_F(ModelLoaderTest, ClassCountMustMatchOutputWidth) {
  nlohmann::json m = TinyModelJson();
  m["classes"] = {"a", "b"};
  Write(m, TinyParams());
  EXPECT_THAT(Load().message(), HasSubstr("classes has 2 labels but the model outputs 3 values"));
}

TEST_F(ModelLoaderTest, DeclaredParamShapeMustMatchNpz) {
  nlohmann::json m = TinyModelJson();
  m["params"] = {{"W1", {{"shape", {8, 4}}, {"dtype", "float32"}}}};
  Write(m, TinyParams());
  EXPECT_THAT(Load().message(), HasSubstr("params.W1.shape is [8,4] but"));
}

TEST_F(ModelLoaderTest, ClassesNeedABatchByClassesOutput) {
  nlohmann::json m = TinyModelJson();
  m["layers"] = nlohmann::json::parse(R"([{"op": "pool_2d", "attrs": {"ws": [2, 2]}}])");
  Write(m, {});
  EXPECT_THAT(Load().message(),
              HasSubstr("classes label the values of a (batch, classes) output, but the last "
                        "layer gives (1, 1, 3, 3) for input (1, 1, 6, 6)"));
}

TEST_F(ModelLoaderTest, OutputsOtherThanScoresLoadWithoutClasses) {
  // A feature extractor: (N, 1, 6, 6) -> pool -> (N, 1, 3, 3); no classes, no top-k.
  nlohmann::json m = TinyModelJson();
  m.erase("classes");
  m["layers"] = nlohmann::json::parse(R"([{"op": "pool_2d", "attrs": {"ws": [2, 2]}}])");
  Write(m, {});
  auto model = LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->output_shape(), (Shape{1, 3, 3}));
  EXPECT_EQ((*model)->num_outputs(), 9);
  EXPECT_FALSE((*model)->outputs_scores());
}

TEST_F(ModelLoaderTest, Float64ModelsComputeInFloat64) {
  // A dense layer whose exact float64 result differs from any float32 computation:
  // x = 1 + 2^-30 (not a float32), W = 1, b = 0 -> 1 + 2^-30 exactly.
  nlohmann::json m = nlohmann::json::parse(R"({
    "dtype": "float64",
    "input": {"shape": [1]},
    "layers": [{"op": "dense", "params": ["W", "b"]}]})");
  Write(m, {{"W", SerializeNpy(Tensor<double>({1, 1}, {1.0}))},
            {"b", SerializeNpy(Tensor<double>({1}, {0.0}))}});
  for (Engine engine : {Engine::kFast, Engine::kReference}) {
    ModelOptions options;
    options.engine = engine;
    auto model = LoadModel(dir_, "", options);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ((*model)->dtype(), DType::kFloat64);
    EXPECT_EQ((*model)->engine(), Engine::kReference);  // the fast kernels are float32
    if (engine == Engine::kFast) {
      EXPECT_THAT((*model)->engine_description(), HasSubstr("float64 models run the reference"));
    }
    const double x = 1.0 + std::ldexp(1.0, -30);
    auto out = (*model)->Predict(AnyTensor(Tensor<double>({1, 1}, {x})));
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(DTypeOf(*out), DType::kFloat64);
    EXPECT_EQ(std::get<Tensor<double>>(*out).values(), std::vector<double>{x});
    // float32 inputs are taken too (converted exactly); the float32 overload rounds the output.
    auto rounded = (*model)->Predict(Tensor<float>({2, 1}, {0.5f, 2.0f}));
    ASSERT_TRUE(rounded.ok()) << rounded.status();
    EXPECT_EQ(rounded->values(), (std::vector<float>{0.5f, 2.0f}));
  }
}

TEST_F(ModelLoaderTest, ParamsMustHaveTheModelsDtype) {
  nlohmann::json m = TinyModelJson();
  m["dtype"] = "float64";
  Write(m, TinyParams());  // float32 arrays
  EXPECT_THAT(Load().message(), HasSubstr("params.npz member W0: dtype <f4 does not match the "
                                          "model's dtype float64 (<f8)"));
  m["dtype"] = "float16";
  Write(m, TinyParams());
  EXPECT_THAT(Load().message(),
              HasSubstr("model.json: dtype must be \"float32\" or \"float64\", got \"float16\""));
}

TEST_F(ModelLoaderTest, NameDefaultsToTheFolderOrForAVersionFolderItsModel) {
  nlohmann::json m = TinyModelJson();
  m.erase("name");
  const std::string version_dir = dir_ + "/mynet/3";
  std::filesystem::create_directories(version_dir);
  std::ofstream(version_dir + "/model.json") << m.dump();
  ASSERT_TRUE(WriteNpzFile(version_dir + "/params.npz", TinyParams(), false).ok());
  auto model = LoadModel(version_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->name(), "mynet");  // REPO/NAME/VERSION, as a repository names it
  std::filesystem::rename(version_dir, dir_ + "/mynet/tiny");
  model = LoadModel(dir_ + "/mynet/tiny/");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->name(), "tiny");
}

TEST_F(ModelLoaderTest, MeanImageIsSubtractedFromDecodedImagesOnly) {
  // A model-zoo style mean image: input (1, 2, 2), identity graph (flatten), mean image
  // [[10, 20], [30, 40]], scale 1. By hand: pixels [[100, 100], [100, 100]] become
  // [90, 80, 70, 60]; a tensor goes through unchanged.
  nlohmann::json m = nlohmann::json::parse(R"({
    "input": {"shape": [1, 2, 2], "mean_image": "input.mean_image"},
    "layers": [{"op": "flatten", "attrs": {"ndim": 2}}]})");
  Write(m, {{"input.mean_image", SerializeNpy(Tensor<float>({1, 2, 2}, {10, 20, 30, 40}))}});
  auto model = LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  auto png = EncodeImage(std::vector<uint8_t>(4, 100).data(), 2, 2, 1, "png");
  ASSERT_TRUE(png.ok());
  auto batch = DecodeImages({*png}, (*model)->input());
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->values(), (std::vector<float>{90, 80, 70, 60}));
  auto out = (*model)->Predict(Tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->values(), (std::vector<float>{1, 2, 3, 4}));

  Write(m, {{"input.mean_image", SerializeNpy(Tensor<float>({1, 3, 2}))}});
  EXPECT_THAT(Load().message(), HasSubstr("input.mean_image input.mean_image has shape (1, 3, 2); "
                                          "it must have the input's shape (1, 2, 2)"));
  m["input"]["mean_image"] = "nope";
  Write(m, {{"input.mean_image", SerializeNpy(Tensor<float>({1, 2, 2}))}});
  EXPECT_THAT(Load().message(), HasSubstr("member input.mean_image: is not used by any layer nor "
                                          "as input.mean_image (the model uses: nope)"));
  Write(m, {{"nope", SerializeNpy(Tensor<float>({2, 2}))}});
  EXPECT_THAT(Load().message(), HasSubstr("input.mean_image nope has shape (2, 2); it must have "
                                          "the input's shape (1, 2, 2)"));
}

TEST_F(ModelLoaderTest, TensorInputsOfAnyShape) {
  // A 4-channel sensor grid is not an image: tensors only.
  nlohmann::json m = nlohmann::json::parse(R"({
    "input": {"shape": [4, 3, 2]},
    "layers": [{"op": "flatten", "attrs": {"ndim": 2}}, {"op": "dense", "params": ["W", "b"]}]})");
  Write(m, {{"W", SerializeNpy(Filled({24, 2}))}, {"b", SerializeNpy(Filled({2}))}});
  auto model = LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_FALSE((*model)->input().images);
  EXPECT_TRUE((*model)->outputs_scores());
  auto out = (*model)->Predict(Tensor<float>({5, 4, 3, 2}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape(), (Shape{5, 2}));
  auto bad = (*model)->Predict(Tensor<float>({5, 4, 3, 3}));
  EXPECT_EQ(bad.status().message(), "model " + std::filesystem::path(dir_).filename().string() +
                                        ": input must have shape (N, 4, 3, 2), got (5, 4, 3, 3)");
}

TEST_F(ModelLoaderTest, BadInputSpecIsRefused) {
  nlohmann::json m = TinyModelJson();
  m["input"]["shape"] = {1, 0, 6};
  Write(m, TinyParams());
  absl::Status s = Load();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input.shape"));
}

// Branching graphs: a residual add and an inception-style concatenate, by named
// inputs.
TEST_F(ModelLoaderTest, NamedInputsExpressResidualAndConcatenate) {
  nlohmann::json m = nlohmann::json::parse(R"({
    "input": {"shape": [3, 4, 4], "grayscale": false, "channels": 3, "channel_order": "RGB"},
    "layers": [
      {"name": "a", "op": "conv2d", "attrs": {"border_mode": "half"}, "params": ["Wa"]},
      {"name": "r", "op": "add", "inputs": ["input", "a"]},
      {"name": "b", "op": "relu", "inputs": ["input"]},
      {"op": "concatenate", "attrs": {"axis": 1}, "inputs": ["r", "b"]},
      {"op": "flatten", "attrs": {"ndim": 2}},
      {"op": "dense", "params": ["Wd", "bd"]}
    ]})");
  Write(m, {{"Wa", SerializeNpy(Filled({3, 3, 3, 3}))},
            {"Wd", SerializeNpy(Filled({96, 5}))},
            {"bd", SerializeNpy(Filled({5}))}});
  auto model = LoadModel(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  // By hand: r = input + conv(input) is (1, 3, 4, 4); b = relu(input) is (1, 3,
  // 4, 4); their concatenation on axis 1 is (1, 6, 4, 4), flattened 96.
  EXPECT_EQ((*model)->layers()[1].output_shape, (Shape{1, 3, 4, 4}));
  EXPECT_EQ((*model)->layers()[3].output_shape, (Shape{1, 6, 4, 4}));
  EXPECT_EQ((*model)->num_outputs(), 5);
}

TEST_F(ModelLoaderTest, InputOfALaterLayerIsRefused) {
  nlohmann::json m = TinyModelJson();
  m["layers"][0]["inputs"] = {"later"};
  m["layers"][4]["name"] = "later";
  Write(m, TinyParams());
  EXPECT_THAT(Load().message(), HasSubstr("input \"later\" is neither the model input \"input\" "
                                          "nor the name of an "
                                          "earlier layer"));
}

TEST(ModelLoaderSharedModelTest, TheSharedFashionModelLoadsUnchanged) {
  auto model = LoadModel(std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->FlopsPerImage() > 4000000, true);
}

}  // namespace
}  // namespace theano_serving
