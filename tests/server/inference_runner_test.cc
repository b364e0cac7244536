// InferenceRunner, the request path every API shares, with a real ModelRepository (the embedded
// Fashion LeNet, models/fashion_lenet/1, and a tensors-only model written here), Batcher,
// ThreadPool and Metrics: every request limit is enforced here, before any decode or queueing,
// with the code, message and metrics reason the services pass on; outputs are the model's own,
// row for row (the engine computes each row independently of its batch).
#include "server/inference_runner.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/file_util.h"
#include "core/preprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/metric_family.h"

namespace theano_serving {
namespace {
namespace fs = std::filesystem;

using ::testing::HasSubstr;

const std::string kSource = TS_SOURCE_DIR;

// n distinct 28x28 inputs with values in [0, 1).
Tensor<float> Inputs(int64_t n) {
  Tensor<float> t(Shape{n, 1, 28, 28});
  for (int64_t i = 0; i < t.size(); ++i) {
    t.data()[i] = static_cast<float>((i * 7919 + (i / 784) * 104729) % 256) / 256.0f;
  }
  return t;
}

// What the one call of `done` delivered.
struct Answer {
  absl::StatusOr<AnyTensor> output = absl::UnknownError("done was not called");
  std::string reason;
  int calls = 0;
  absl::Notification called;
};

InferenceRunner::Done Into(Answer* answer) {
  return [answer](absl::StatusOr<AnyTensor> output, std::string reason) {
    answer->output = std::move(output);
    answer->reason = std::move(reason);
    ++answer->calls;
    answer->called.Notify();
  };
}

class InferenceRunnerTest : public testing::Test {
 protected:
  static constexpr int kMaxImages = 6;

  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / absl::StrCat("runner_", getpid());
    fs::remove_all(root_);
    fs::create_directories(root_ / "fashion");
    fs::create_directory_symlink(kSource + "/models/fashion_lenet/1", root_ / "fashion" / "1");
    // A model that is no image classifier: relu of 3 values, tensors only.
    fs::create_directories(root_ / "relu3" / "1");
    std::ofstream(root_ / "relu3" / "1" / "model.json")
        << R"({"input": {"shape": [3]}, "layers": [{"op": "relu"}]})";

    RepositoryOptions options;
    options.root = root_.string();
    options.poll_interval = absl::ZeroDuration();
    options.batcher.max_batch_size = 4;  // 10 images run as 4 + 4 + 2.
    options.batcher.max_queue_delay = absl::ZeroDuration();
    auto repository = ModelRepository::Create(options);
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ASSERT_TRUE(repository_->AnyReady("fashion"));
    ASSERT_TRUE(repository_->AnyReady("relu3"));
    decode_pool_ = std::make_unique<ThreadPool>(2, 16);
    RequestLimits limits;
    limits.max_images_per_request = kMaxImages;
    limits.max_image_pixels = 28 * 28;
    runner_ =
        std::make_unique<InferenceRunner>(repository_.get(), decode_pool_.get(), &metrics_, limits);
    for (const char* name : {"0000_ankle_boot.png", "0001_pullover.png", "0002_trouser.png"}) {
      auto png = ReadFileToString(kSource + "/models/fashion_lenet/samples/" + name);
      ASSERT_TRUE(png.ok()) << png.status();
      pngs_.push_back(*std::move(png));
    }
  }

  void TearDown() override {
    runner_.reset();
    decode_pool_.reset();
    repository_.reset();
    fs::remove_all(root_);
  }

  std::shared_ptr<const Servable> Get(const std::string& name) {
    auto servable = runner_->Resolve(name, 0);
    EXPECT_TRUE(servable.ok()) << servable.status();
    return servable.ok() ? *servable : nullptr;
  }

  // RunTensor / RunImages, waiting for the answer.
  void RunTensor(const std::string& model, AnyTensor batch, RequestInfo info, Answer* answer) {
    runner_->RunTensor(Get(model), std::move(batch), std::move(info), Into(answer));
    ASSERT_TRUE(answer->called.WaitForNotificationWithTimeout(absl::Seconds(30)));
  }
  void RunImages(const std::string& model, const std::vector<std::string>& images, RequestInfo info,
                 Answer* answer) {
    std::vector<absl::string_view> views(images.begin(), images.end());
    runner_->RunImages(Get(model), std::move(views), std::move(info), Into(answer));
    ASSERT_TRUE(answer->called.WaitForNotificationWithTimeout(absl::Seconds(30)));
  }

  // The model's own output for `inputs`, run in one piece.
  Tensor<float> Predict(const Tensor<float>& inputs) {
    auto out = Get("fashion")->model().Predict(inputs);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *std::move(out) : Tensor<float>();
  }

  // theano_serving_images_total{model="fashion"}.
  double ImagesCounted() {
    for (const prometheus::MetricFamily& family : metrics_.registry().Collect()) {
      if (family.name != "theano_serving_images_total") continue;
      double total = 0;
      for (const prometheus::ClientMetric& metric : family.metric) total += metric.counter.value;
      return total;
    }
    return 0;
  }

  fs::path root_;
  Metrics metrics_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<ThreadPool> decode_pool_;
  std::unique_ptr<InferenceRunner> runner_;
  std::vector<std::string> pngs_;
};

TEST_F(InferenceRunnerTest, TensorRunsInChunksOfMaxBatchSizeAndKeepsRowOrder) {
  const Tensor<float> inputs = Inputs(kMaxImages);  // 4 + 2 rows
  Answer answer;
  RunTensor("fashion", AnyTensor(inputs), RequestInfo(), &answer);
  ASSERT_TRUE(answer.output.ok()) << answer.output.status();
  EXPECT_EQ(answer.reason, "");
  const Tensor<float>& out = std::get<Tensor<float>>(*answer.output);
  EXPECT_EQ(out.shape(), (Shape{kMaxImages, 10}));
  EXPECT_EQ(out.values(), Predict(inputs).values());
  EXPECT_EQ(ImagesCounted(), kMaxImages);
}

TEST_F(InferenceRunnerTest, Float64TensorIsConvertedToTheModelsDtype) {
  const Tensor<float> inputs = Inputs(2);
  Answer answer;
  RunTensor("fashion", AnyTensor(ConvertTo<double>(AnyTensor(inputs))), RequestInfo(), &answer);
  ASSERT_TRUE(answer.output.ok()) << answer.output.status();
  EXPECT_EQ(std::get<Tensor<float>>(*answer.output).values(), Predict(inputs).values());
}

TEST_F(InferenceRunnerTest, TensorOverMaxImagesPerRequestIsRefusedBeforeQueueing) {
  Answer answer;
  runner_->RunTensor(Get("fashion"), AnyTensor(Inputs(kMaxImages + 1)), RequestInfo(),
                     Into(&answer));
  // Answered inline: nothing was queued.
  ASSERT_EQ(answer.calls, 1);
  EXPECT_EQ(answer.output.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(answer.output.status().message(),
            "images: 7 images in one request exceed the limit of 6");
  EXPECT_EQ(answer.reason, "too_many_images");
  EXPECT_EQ(ImagesCounted(), 0);

  // The field named is the caller's (OIP v2 carries N in the tensor's shape).
  RequestInfo v2;
  v2.batch_field = "inputs[0].shape[0]";
  Answer v2_answer;
  RunTensor("relu3", AnyTensor(Tensor<float>({kMaxImages + 2, 3})), v2, &v2_answer);
  EXPECT_EQ(v2_answer.output.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(v2_answer.output.status().message(),
            "inputs[0].shape[0]: 8 images in one request exceed the limit of 6");
  EXPECT_EQ(v2_answer.reason, "too_many_images");
}

TEST_F(InferenceRunnerTest, EmptyTensorGivesAnEmptyOutput) {
  Answer answer;
  RunTensor("fashion", AnyTensor(Tensor<float>({0, 1, 28, 28})), RequestInfo(), &answer);
  ASSERT_TRUE(answer.output.ok()) << answer.output.status();
  EXPECT_EQ(ShapeOf(*answer.output), (Shape{0, 10}));
}

TEST_F(InferenceRunnerTest, ImagesAreDecodedWithTheModelsSpecAndRun) {
  const std::vector<std::string> images = {pngs_[0], pngs_[1], pngs_[2], pngs_[0], pngs_[1]};
  Answer answer;
  RunImages("fashion", images, RequestInfo(), &answer);
  ASSERT_TRUE(answer.output.ok()) << answer.output.status();
  // The same images decoded here and run in one piece.
  const InputSpec& spec = Get("fashion")->model().input();
  Tensor<float> decoded(spec.BatchShape(static_cast<int64_t>(images.size())));
  for (size_t i = 0; i < images.size(); ++i) {
    ASSERT_TRUE(DecodeImageInto(images[i], spec, decoded.data() + i * 784).ok());
  }
  EXPECT_EQ(std::get<Tensor<float>>(*answer.output).values(), Predict(decoded).values());
}

TEST_F(InferenceRunnerTest, ImageLimitsAndErrorsNameTheImage) {
  struct Case {
    std::vector<std::string> images;
    absl::StatusCode code;
    std::string message;
    std::string reason;
  };
  const std::string png = pngs_[0];
  const std::vector<Case> cases = {
      {std::vector<std::string>(kMaxImages + 1, png), absl::StatusCode::kResourceExhausted,
       "images: 7 images in one request exceed the limit of 6", "too_many_images"},
      {{},
       absl::StatusCode::kInvalidArgument,
       "images: at least one image is required",
       "no_images"},
      {{png, ""}, absl::StatusCode::kInvalidArgument, "images[1].data is empty", "bad_image"},
      {{"this is not an image"}, absl::StatusCode::kInvalidArgument, "images[0]: ", "bad_image"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Answer answer;
    RunImages("fashion", c.images, RequestInfo(), &answer);
    EXPECT_EQ(answer.output.status().code(), c.code);
    EXPECT_THAT(std::string(answer.output.status().message()), HasSubstr(c.message));
    EXPECT_EQ(answer.reason, c.reason);
  }
}

TEST_F(InferenceRunnerTest, ImageOverMaxImagePixelsIsRefusedFromItsHeader) {
  RequestLimits limits;
  limits.max_image_pixels = 28 * 28 - 1;  // One pixel fewer than a sample has.
  InferenceRunner strict(repository_.get(), decode_pool_.get(), &metrics_, limits);
  Answer answer;
  std::vector<absl::string_view> images = {pngs_[0], pngs_[1]};
  strict.RunImages(Get("fashion"), images, RequestInfo(), Into(&answer));
  ASSERT_EQ(answer.calls, 1);  // Before any decode, inline.
  EXPECT_EQ(answer.output.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(answer.output.status().message()), HasSubstr("images[0]: "));
  EXPECT_EQ(answer.reason, "image_too_large");
}

TEST_F(InferenceRunnerTest, ExpiredDeadlineIsNotDecoded) {
  RequestInfo info;
  info.deadline = absl::Now() - absl::Seconds(1);
  Answer answer;
  RunImages("fashion", {pngs_[0]}, info, &answer);
  EXPECT_EQ(answer.output.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(answer.reason, "deadline");
}

TEST_F(InferenceRunnerTest, TensorsOnlyModelRunsTensorsAndRefusesImages) {
  Answer images;
  RunImages("relu3", {pngs_[0]}, RequestInfo(), &images);
  EXPECT_EQ(images.output.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(images.output.status().message()),
              HasSubstr("model relu3 takes tensors of shape (3,)"));
  EXPECT_EQ(images.reason, "bad_image");

  // relu of [-1, 0, 2.5], [3, -4, 5] (by hand).
  Answer tensor;
  RunTensor("relu3", AnyTensor(Tensor<float>({2, 3}, {-1, 0, 2.5f, 3, -4, 5})), RequestInfo(),
            &tensor);
  ASSERT_TRUE(tensor.output.ok()) << tensor.output.status();
  EXPECT_EQ(std::get<Tensor<float>>(*tensor.output).values(),
            (std::vector<float>{0, 0, 2.5f, 3, 0, 5}));
}

TEST_F(InferenceRunnerTest, ResolveChecksNameAndVersion) {
  EXPECT_EQ(runner_->Resolve("", 0).status().message(), "model_name is required");
  EXPECT_EQ(runner_->Resolve("fashion", -1).status().message(),
            "model_version must be >= 0 (0 = latest), got -1");
  EXPECT_EQ(runner_->Resolve("nope", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runner_->Resolve("fashion", 2).status().code(), absl::StatusCode::kNotFound);
  auto servable = runner_->Resolve("fashion", 1);
  ASSERT_TRUE(servable.ok()) << servable.status();
  EXPECT_EQ((*servable)->version(), 1);
}

}  // namespace
}  // namespace theano_serving
