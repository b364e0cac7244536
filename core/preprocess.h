// Image preprocessing: encoded bytes → the model's input tensor, as model.json's `input` object
// says. Decoding is OpenCV's cv::imdecode (PNG, JPEG, BMP, TIFF, WebP). Thread-safe.
#ifndef THEANO_SERVING_CORE_PREPROCESS_H_
#define THEANO_SERVING_CORE_PREPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"
#include "nlohmann/json.hpp"

namespace theano_serving {

// The `input` object of model.json. See docs/MODEL_FORMAT.md.
struct InputSpec {
  std::string name = "input";
  int channels = 1;  // shape[0]; 1 for grayscale models, 3 for colour.
  int height = 0;    // shape[1]
  int width = 0;     // shape[2]
  bool grayscale = true;
  std::string channel_order = "RGB";  // Colour models: order of the model's channels.
  float scale = 1.0f;                 // Applied as float32(pixel) * scale.
  std::vector<float> mean;            // One per channel (default 0).
  std::vector<float> std;             // One per channel (default 1).
  std::string resize = "bilinear";    // nearest | bilinear | bicubic | area | lanczos.

  Shape shape() const { return {channels, height, width}; }
};

// Parses and validates model.json's `input` object. Keys the format does not define are ignored
// (exported models carry documentation keys such as `layout` and `source`). InvalidArgument naming
// the key and the value otherwise, e.g. `input.channel_order must be "RGB" or "BGR", got "RBG"`.
absl::StatusOr<InputSpec> ParseInputSpec(const nlohmann::json& input);

// Decodes `bytes` and writes the C*H*W floats of one image (NCHW order) to `out`:
// decode (grayscale or colour) → resize to (height, width) if the image has another size →
// channel order → x = (float32(pixel) * scale - mean[c]) / std[c], in float32.
// InvalidArgument if the bytes are not a decodable image.
absl::Status DecodeImageInto(absl::string_view bytes, const InputSpec& spec, float* out);

// Same, for a batch of images: returns an (N, C, H, W) tensor. An error names the image index.
absl::StatusOr<Tensor<float>> DecodeImages(const std::vector<std::string>& images,
                                           const InputSpec& spec);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_PREPROCESS_H_
