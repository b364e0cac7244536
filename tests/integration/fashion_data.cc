#include "tests/integration/fashion_data.h"

#include "core/file_util.h"
#include "core/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace theano_serving {
namespace testing_util {

std::vector<Sample> LoadSamples() {
  std::vector<Sample> out;
  const std::string data = SourceDir() + "/tests/data/fashion_lenet/samples.json";
  auto json = ReadJsonFile(data);
  if (!json.ok()) {
    ADD_FAILURE() << json.status();
    return out;
  }
  for (const auto& s : (*json)["samples"]) {
    Sample sample;
    sample.file = s["file"].get<std::string>();
    sample.path = SourceDir() + "/models/fashion_lenet/" + sample.file;
    auto png = ReadFileToString(sample.path);
    if (!png.ok()) {
      ADD_FAILURE() << png.status();
      continue;
    }
    sample.png = *std::move(png);
    sample.prediction = s["theano_prediction"].get<int>();
    sample.probabilities = s["theano_probabilities"].get<std::vector<float>>();
    out.push_back(std::move(sample));
  }
  EXPECT_EQ(out.size(), 20u) << data;
  return out;
}

Golden LoadGolden() {
  Golden g;
  auto json = ReadJsonFile(SourceDir() + "/tests/data/fashion_lenet/golden.json");
  if (!json.ok()) {
    ADD_FAILURE() << json.status();
    return g;
  }
  g.n = (*json)["n"].get<int>();
  g.pixels = (*json)["pixels"]["data"].get<std::vector<uint8_t>>();
  g.probabilities = (*json)["probabilities"]["data"].get<std::vector<float>>();
  g.predictions = (*json)["predictions"].get<std::vector<int>>();
  EXPECT_EQ(g.pixels.size(), static_cast<size_t>(g.n) * 28 * 28);
  EXPECT_EQ(g.probabilities.size(), static_cast<size_t>(g.n) * kClasses);
  EXPECT_EQ(g.predictions.size(), static_cast<size_t>(g.n));
  return g;
}

std::vector<float> Golden::Inputs() const {
  // golden.json "description": Input = pixels * float32(1/255), multiplied in float32.
  const float scale = 1.0f / 255.0f;
  std::vector<float> out(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) out[i] = static_cast<float>(pixels[i]) * scale;
  return out;
}

int ArgMax(const float* row, int k) {
  int best = 0;
  for (int i = 1; i < k; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return best;
}

v1::ClassifyRequest MakeClassifyRequest(const std::string& model,
                                        const std::vector<const Sample*>& images) {
  v1::ClassifyRequest request;
  request.set_model_name(model);
  for (const Sample* s : images) {
    v1::Image* image = request.add_images();
    image->set_data(s->png);
    image->set_id(s->file);
  }
  return request;
}

}  // namespace testing_util
}  // namespace theano_serving
