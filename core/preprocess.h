// Image preprocessing: encoded bytes → the model's input tensor, as
// model.json's `input` object says. Decoding is OpenCV's cv::imdecode (PNG,
// JPEG, BMP, TIFF, WebP). Thread-safe.
#ifndef THEANO_SERVING_CORE_PREPROCESS_H_
#define THEANO_SERVING_CORE_PREPROCESS_H_

#include <cstdint>
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
  // Whether the model takes encoded images (then channels/height/width/image_layout describe them
  // and the preprocessing keys apply). False: the model serves tensors of `tensor_shape` only.
  bool images = true;
  // Images: the order of one image's axes in the model input, "CHW" (planes; Theano's and
  // Lasagne's convention) or "HWC" (interleaved; Keras' channels_last / dim_ordering "tf").
  std::string image_layout = "CHW";
  int channels = 1;  // 1 for grayscale models, 3 for colour.
  int height = 0;
  int width = 0;
  // Tensor-only models: the shape of one input, without the batch axis (any rank >= 1).
  Shape tensor_shape;
  bool grayscale = true;
  // Colour models: the order of the model's channels, "RGB" or "BGR".
  std::string channel_order = "RGB";
  float scale = 1.0f;       // Applied as float32(pixel) * scale.
  std::vector<float> mean;  // One per channel (default 0).
  std::vector<float> std;   // One per channel (default 1).
  // model.json key "mean_image": the params.npz member holding a whole image to subtract (a
  // model-zoo 'mean image'), of shape(); LoadModel fills `mean_image` from it (image_layout
  // order). Empty: none.
  std::string mean_image_param;
  std::vector<float> mean_image;
  // model.json key "resize": nearest | bilinear | bicubic | area | lanczos
  // (cv::INTER_NEAREST, INTER_LINEAR, INTER_CUBIC, INTER_AREA, INTER_LANCZOS4).
  std::string resize = "bilinear";

  // The shape of one input, without the batch axis: (C, H, W) or (H, W, C) for image models,
  // tensor_shape otherwise.
  Shape shape() const {
    if (!images) return tensor_shape;
    if (image_layout == "HWC") return {height, width, channels};
    return {channels, height, width};
  }
  // (n, shape()...).
  Shape BatchShape(int64_t n) const {
    Shape s = shape();
    s.insert(s.begin(), n);
    return s;
  }
};

// Parses and validates model.json's `input` object. Keys the format does not
// define are ignored (exported models carry documentation keys such as `layout`
// and `source`). InvalidArgument naming the key and the value otherwise, e.g.
// `input.channel_order must be "RGB" or "BGR", got "RBG"`.
absl::StatusOr<InputSpec> ParseInputSpec(const nlohmann::json& input);

// Decodes `bytes` and writes the C*H*W floats of one image (in `spec.image_layout` order) to
// `out`, which must have room for them: decode (grayscale or colour) → resize
// to (height, width) with `spec.resize` if the image has another size →
// channel order → x = (float32(pixel) * scale - mean[c] - mean_image[c, y, x]) / std[c], in
// float32 (no mean_image: the term is left out).
// InvalidArgument naming the tensor shape if the model takes tensors only (spec.images false).
// InvalidArgument "image is not a decodable PNG/JPEG/BMP/TIFF/WebP (N bytes)"
// for empty, damaged or unsupported bytes ("(GIF is not supported; N bytes)"
// for a GIF: Debian's OpenCV 4.6 cannot decode it); InvalidArgument "input spec: ..."
// for a hand-built `spec` that ParseInputSpec would reject; ResourceExhausted
// if OpenCV runs out of memory. Never aborts on any input bytes.
absl::Status DecodeImageInto(absl::string_view bytes, const InputSpec& spec, float* out);

// Normalizes one image of raw 8-bit pixels, HWC interleaved in the model's channel order
// (height * width * channels bytes, e.g. an IDX dataset row), into C*H*W floats in
// `spec.image_layout` order (CHW planes or HWC interleaved), with DecodeImageInto's formula:
// x = (float32(pixel) * scale - mean[c]) / std[c], in float32. The one place that formula lives.
void NormalizePixels(const uint8_t* pixels, const InputSpec& spec, float* out);

// Same, for a batch of images: returns an (N, C, H, W) tensor. An error names
// the image index.
absl::StatusOr<Tensor<float>> DecodeImages(const std::vector<std::string>& images,
                                           const InputSpec& spec);

// Encodes an 8-bit image as `format` ("png", "jpg"/"jpeg", "bmp", "tiff",
// "webp") with cv::imencode. `pixels` holds height * width * channels bytes,
// row-major and interleaved (HWC); channels is 1 (gray) or 3 (in RGB order).
// For clients and tools that turn raw pixels (IDX datasets, tests) into request
// bytes. InvalidArgument for bad sizes or an unknown format.
absl::StatusOr<std::string> EncodeImage(const uint8_t* pixels, int height, int width, int channels,
                                        absl::string_view format);

// What an image's header says, read without decoding the pixels.
struct ImageHeaderInfo {
  std::string format;  // "png", "jpeg", "bmp", "webp" or "tiff".
  int64_t width = 0;
  int64_t height = 0;
  // A block of pixels the decoder allocates at once that can be larger than the image: a TIFF
  // strip (width x RowsPerStrip, which OpenCV 4.6 does not clamp to the height) or tile
  // (TileWidth x TileLength). 0 x 0 when there is none.
  int64_t block_width = 0;
  int64_t block_height = 0;
};

// OK if the image, and its decode block, have at most `max_pixels` pixels; otherwise
// ResourceExhausted("<format> header says WxH pixels[ in strips|tiles of WxH], more than the limit
// of N"). Divides instead of multiplying: TIFF sizes are 32-bit, and their product overflows.
absl::Status CheckImagePixels(const ImageHeaderInfo& header, int64_t max_pixels);

// Reads the width and height from a PNG, JPEG, BMP, WebP or TIFF header
// without decoding, so that a server can reject decompression bombs by pixel
// count before calling DecodeImageInto. Only the header is trusted: a valid
// header does not mean the image will decode. InvalidArgument for a
// truncated/damaged header, and DecodeImageInto's "image is not a decodable
// PNG/JPEG/BMP/TIFF/WebP (N bytes)" for any other format (GIF included: it is
// not decodable here, and says so).
absl::StatusOr<ImageHeaderInfo> PeekImageSize(absl::string_view bytes);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_PREPROCESS_H_
