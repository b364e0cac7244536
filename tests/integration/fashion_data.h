// Theano's reference outputs for the embedded model (tests/data/fashion_lenet, made by Theano
// 1.0.5; see its generator fields) and small gRPC helpers shared by the integration tests.
#ifndef THEANO_SERVING_TESTS_INTEGRATION_FASHION_DATA_H_
#define THEANO_SERVING_TESTS_INTEGRATION_FASHION_DATA_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "theano_serving/v1/classification.pb.h"

namespace theano_serving {
namespace testing_util {

// The embedded model's name and its class count.
inline constexpr char kModel[] = "fashion_lenet";
inline constexpr int kClasses = 10;
// Theano's own tolerance for this model (models/fashion_lenet/README.md, tests/model).
inline constexpr float kTheanoAtol = 1e-5f;

// One of models/fashion_lenet/samples/*.png with Theano's answer (samples.json).
struct Sample {
  std::string file;  // "samples/0000_ankle_boot.png"
  std::string path;  // absolute path of the PNG
  std::string png;   // its bytes
  int prediction = -1;
  std::vector<float> probabilities;  // kClasses
};
// The 20 samples in samples.json order. Adds a gtest failure (and returns what it has) on error.
std::vector<Sample> LoadSamples();

// golden.json: Theano's softmax of the first 200 Fashion-MNIST test images.
struct Golden {
  int n = 0;
  std::vector<uint8_t> pixels;       // [n, 28, 28]
  std::vector<float> probabilities;  // [n, kClasses]
  std::vector<int> predictions;      // [n]
  // The model input Theano saw: float32(pixel) * float32(1/255), [n, 1, 28, 28].
  std::vector<float> Inputs() const;
};
Golden LoadGolden();

// Index of the largest of `row[0..k)`, lowest index on ties.
int ArgMax(const float* row, int k);

// A context with a deadline `timeout` from now.
inline void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
}

// A Classify request for `model` with these images (id = the sample's file).
v1::ClassifyRequest MakeClassifyRequest(const std::string& model,
                                        const std::vector<const Sample*>& images);

}  // namespace testing_util
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_INTEGRATION_FASHION_DATA_H_
