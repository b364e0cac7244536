// theano_serving.v1 Classify against the real server: the 20 sample PNGs must get Theano's answers
// (tests/data/fashion_lenet/samples.json, Theano 1.0.5) through PNG decode, batching and top-k.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

class ClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    samples_ = LoadSamples();
    ASSERT_EQ(samples_.size(), 20u);
    auto server = ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::ClassificationService::NewStub(server_->channel());
  }

  grpc::Status Classify(const v1::ClassifyRequest& request, v1::ClassifyResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(30));
    return stub_->Classify(&context, request, response);
  }

  // Checks one result against Theano's answer for `sample`: the id, top-1 = Theano's prediction,
  // `k` classes best first, every score within kTheanoAtol of Theano's probability.
  void ExpectTheano(const v1::Classifications& result, const Sample& sample, int k) {
    SCOPED_TRACE(sample.file);
    EXPECT_EQ(result.id(), sample.file);
    ASSERT_EQ(result.classes_size(), k);
    EXPECT_EQ(result.classes(0).index(), sample.prediction);
    for (int j = 0; j < k; ++j) {
      const v1::Class& c = result.classes(j);
      ASSERT_GE(c.index(), 0);
      ASSERT_LT(c.index(), kClasses);
      EXPECT_NEAR(c.score(), sample.probabilities[static_cast<size_t>(c.index())], kTheanoAtol)
          << "class " << c.index();
      if (j > 0) {
        EXPECT_GE(result.classes(j - 1).score(), c.score()) << "not best first";
      }
    }
  }

  std::vector<Sample> samples_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::ClassificationService::Stub> stub_;
};

TEST_F(ClassifyTest, SamplesMatchTheanoWithDefaultTopK) {
  std::vector<const Sample*> all;
  for (const Sample& s : samples_) all.push_back(&s);
  v1::ClassifyResponse response;
  grpc::Status status = Classify(MakeClassifyRequest(kModel, all), &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(response.model_name(), kModel);
  EXPECT_EQ(response.model_version(), 1);
  ASSERT_EQ(response.results_size(), 20);
  // top_k unset = 5 (classification.proto).
  for (int i = 0; i < 20; ++i) ExpectTheano(response.results(i), samples_[i], 5);
}

TEST_F(ClassifyTest, AllTenClassesOneImagePerRequest) {
  for (const Sample& s : samples_) {
    v1::ClassifyRequest request = MakeClassifyRequest(kModel, {&s});
    request.set_top_k(kClasses);
    request.set_model_version(1);
    v1::ClassifyResponse response;
    grpc::Status status = Classify(request, &response);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    ASSERT_EQ(response.results_size(), 1);
    ExpectTheano(response.results(0), s, kClasses);
    // The ten probabilities of a softmax: every index once.
    std::vector<int64_t> indices;
    for (const v1::Class& c : response.results(0).classes()) indices.push_back(c.index());
    std::sort(indices.begin(), indices.end());
    for (int j = 0; j < kClasses; ++j) EXPECT_EQ(indices[static_cast<size_t>(j)], j);
  }
}

// 64 images (the server's default per-request limit), the samples in a scrambled order with
// repeats: results come back in request order, split over several batches (max_batch_size 8).
TEST_F(ClassifyTest, ManyImagesKeepRequestOrder) {
  std::vector<const Sample*> images;
  for (int i = 0; i < 64; ++i) images.push_back(&samples_[static_cast<size_t>((i * 7 + 3) % 20)]);
  v1::ClassifyRequest request = MakeClassifyRequest(kModel, images);
  for (int i = 0; i < 64; ++i) {
    request.mutable_images(i)->set_id(absl::StrCat(i, ":", images[static_cast<size_t>(i)]->file));
  }
  request.set_top_k(1);
  v1::ClassifyResponse response;
  grpc::Status status = Classify(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.results_size(), 64);
  for (int i = 0; i < 64; ++i) {
    const Sample& s = *images[static_cast<size_t>(i)];
    const v1::Classifications& r = response.results(i);
    EXPECT_EQ(r.id(), absl::StrCat(i, ":", s.file));
    ASSERT_EQ(r.classes_size(), 1);
    EXPECT_EQ(r.classes(0).index(), s.prediction) << "result " << i;
    EXPECT_NEAR(r.classes(0).score(), s.probabilities[static_cast<size_t>(s.prediction)],
                kTheanoAtol);
  }
}

TEST_F(ClassifyTest, ListModelsAndMetadataDescribeTheEmbeddedModel) {
  grpc::ClientContext c1;
  SetDeadline(&c1, absl::Seconds(10));
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&c1, v1::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).name(), kModel);
  EXPECT_EQ(list.models(0).version(), 1);
  EXPECT_EQ(list.models(0).state(), v1::ModelVersionStatus::READY);
  EXPECT_EQ(list.models(0).reason(), "");

  grpc::ClientContext c2;
  SetDeadline(&c2, absl::Seconds(10));
  v1::GetModelMetadataRequest request;
  request.set_name(kModel);
  v1::ModelMetadata metadata;
  ASSERT_TRUE(stub_->GetModelMetadata(&c2, request, &metadata).ok());
  EXPECT_EQ(metadata.version(), 1);
  EXPECT_EQ(metadata.num_outputs(), kClasses);
  ASSERT_EQ(metadata.input().shape_size(), 3);
  EXPECT_EQ(metadata.input().shape(1), 28);
  EXPECT_FLOAT_EQ(metadata.input().scale(), 1.0f / 255.0f);
  ASSERT_EQ(metadata.classes_size(), kClasses);
  EXPECT_EQ(metadata.classes(9), "Ankle boot");
  // tests/model/fashion_lenet_test.cc: 431080 parameters, counted by hand.
  EXPECT_EQ(metadata.num_params(), 431080);
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
