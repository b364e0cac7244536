// The embedded default model (models/fashion_lenet/1, trained in Theano) against Theano's own
// outputs: tests/data/fashion_lenet/{golden,samples,accuracy}.json, copied from the shared set.
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/idx.h"
#include "core/json_util.h"
#include "core/model_loader.h"
#include "core/preprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

const std::string kRoot = TS_SOURCE_DIR;
const std::string kModelDir = kRoot + "/models/fashion_lenet/1";
const std::string kData = kRoot + "/tests/data/fashion_lenet/";

nlohmann::json Json(const std::string& path) {
  auto j = ReadJsonFile(path);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : nlohmann::json();
}

class FashionLenetTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = LoadModel(kModelDir);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = m->release();
  }
  static void TearDownTestSuite() { delete model_; }
  static const Model* model_;
};
const Model* FashionLenetTest::model_ = nullptr;

TEST_F(FashionLenetTest, LoadsAsIsWithTheExpectedGraph) {
  EXPECT_EQ(model_->name(), "fashion_lenet");
  EXPECT_EQ(model_->input().shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(model_->num_outputs(), 10);
  EXPECT_EQ(model_->classes().front(), "T-shirt/top");
  ASSERT_EQ(model_->layers().size(), 13u);
  // By hand: conv 5x5 valid 28→24, pool 2 → 12, conv 5x5 → 8, pool → 4; 50*4*4 = 800.
  EXPECT_EQ(model_->layers()[0].output_shape, (Shape{1, 20, 24, 24}));
  EXPECT_EQ(model_->layers()[5].output_shape, (Shape{1, 50, 4, 4}));
  EXPECT_EQ(model_->layers()[8].output_shape, (Shape{1, 800}));
  // W0 20*1*5*5 + b0 20 + W1 50*20*5*5 + b1 50 + W2 800*500 + b2 500 + W3 500*10 + b3 10.
  EXPECT_EQ(model_->NumParams(), 431080);
}

// README of the shared model: feed pixels * float32(1/255); probabilities within about 1e-5,
// identical predictions.
TEST_F(FashionLenetTest, ReproducesTheanoProbabilitiesOn200TestImages) {
  nlohmann::json g = Json(kData + "golden.json");
  const auto& pixels = g["pixels"]["data"];
  const auto& probs = g["probabilities"]["data"];
  const auto& preds = g["predictions"];
  const int64_t n = g["n"].get<int64_t>();
  ASSERT_EQ(n, 200);
  const float scale = static_cast<float>(1.0 / 255.0);
  Tensor<float> batch({n, 1, 28, 28});
  for (int64_t i = 0; i < batch.size(); ++i) {
    batch.data()[i] = static_cast<float>(pixels[static_cast<size_t>(i)].get<int>()) * scale;
  }
  auto out = model_->Predict(batch);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->shape(), (Shape{n, 10}));
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 10; ++k) {
      const double want = probs[static_cast<size_t>(i * 10 + k)].get<double>();
      worst = std::max(worst, std::fabs(out->data()[i * 10 + k] - want));
    }
    EXPECT_EQ(model_->TopK(out->data() + i * 10, 1)[0].index, preds[static_cast<size_t>(i)])
        << "test image " << i;
  }
  EXPECT_LE(worst, 1e-5);
  RecordProperty("max_abs_diff", std::to_string(worst));
}

// The sample PNGs decoded by the real preprocessing path give Theano's probabilities.
TEST_F(FashionLenetTest, SamplePngsGiveTheanoPredictions) {
  nlohmann::json s = Json(kData + "samples.json");
  ASSERT_EQ(s["samples"].size(), 20u);
  for (const auto& sample : s["samples"]) {
    const std::string path = kRoot + "/models/fashion_lenet/" + sample["file"].get<std::string>();
    auto bytes = ReadFileToString(path);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto batch = DecodeImages({*bytes}, model_->input());
    ASSERT_TRUE(batch.ok()) << batch.status();
    auto out = model_->Predict(*batch);
    ASSERT_TRUE(out.ok()) << out.status();
    const auto& want = sample["theano_probabilities"];
    for (int k = 0; k < 10; ++k) {
      EXPECT_NEAR(out->data()[k], want[static_cast<size_t>(k)].get<double>(), 1e-5) << path;
    }
    EXPECT_EQ(model_->TopK(out->data(), 1)[0].index, sample["theano_prediction"]) << path;
  }
}

// Theano's test accuracy (90.66%) and confusion matrix, exactly, on Debian's
// dataset-fashion-mnist.
TEST_F(FashionLenetTest, EvalOnFashionMnistTestSetEqualsTheano) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  std::ifstream probe(dir + "t10k-images-idx3-ubyte.gz");
  if (!probe) GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed";
  auto images = ReadIdxFile(dir + "t10k-images-idx3-ubyte.gz");
  ASSERT_TRUE(images.ok()) << images.status();
  auto labels = ReadIdxFile(dir + "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(labels.ok()) << labels.status();
  ASSERT_EQ(images->shape, (Shape{10000, 28, 28}));
  nlohmann::json want = Json(kData + "accuracy.json");

  std::vector<std::vector<int>> confusion(10, std::vector<int>(10, 0));
  int correct = 0;
  constexpr int64_t kBatch = 250;
  for (int64_t start = 0; start < 10000; start += kBatch) {
    Tensor<float> batch({kBatch, 1, 28, 28});
    for (int64_t i = 0; i < kBatch; ++i) {
      NormalizePixels(images->data.data() + (start + i) * 784, model_->input(),
                      batch.data() + i * 784);
    }
    auto out = model_->Predict(batch);
    ASSERT_TRUE(out.ok()) << out.status();
    for (int64_t i = 0; i < kBatch; ++i) {
      const int truth = labels->data[static_cast<size_t>(start + i)];
      const int pred = static_cast<int>(model_->TopK(out->data() + i * 10, 1)[0].index);
      ++confusion[static_cast<size_t>(truth)][static_cast<size_t>(pred)];
      correct += truth == pred;
    }
  }
  EXPECT_EQ(correct, want["correct"].get<int>());
  EXPECT_EQ(nlohmann::json(confusion), want["confusion_matrix"]);
}

}  // namespace
}  // namespace theano_serving
