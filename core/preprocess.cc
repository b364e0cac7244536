#include "core/preprocess.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "opencv2/core.hpp"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"

namespace theano_serving {
namespace {

// Largest height or width a model input may declare. Far above any CNN
// classifier's input; it keeps C * H * W and the resize arithmetic comfortably
// inside int.
constexpr int64_t kMaxInputSide = 1 << 15;
// Tensor inputs: at most this rank and element count per input (2^31 floats = 8 GiB).
constexpr size_t kMaxInputRank = 8;
constexpr int64_t kMaxInputElements = int64_t{1} << 31;

using Json = nlohmann::json;

// A JSON value as the user wrote it, for error messages.
std::string Show(const Json& value) { return value.dump(); }

// `input.<key>` for top-level keys, `input.<key>[i]` for array elements.
std::string Key(absl::string_view key) { return absl::StrCat("input.", key); }
std::string Key(absl::string_view key, size_t i) {
  return absl::StrCat("input.", key, "[", i, "]");
}

absl::StatusOr<int64_t> PositiveInt(const Json& value, const std::string& key, int64_t max) {
  // nlohmann/json holds parsed non-negative literals as unsigned and C++-built
  // ones as signed; check each representation in its own type so that neither
  // can wrap.
  const bool in_range =
      value.is_number_unsigned()
          ? value.get<uint64_t>() >= 1 && value.get<uint64_t>() <= static_cast<uint64_t>(max)
          : value.is_number_integer() && value.get<int64_t>() >= 1 && value.get<int64_t>() <= max;
  if (!in_range) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " must be an integer from 1 to ", max, ", got ", Show(value)));
  }
  return value.get<int64_t>();
}

absl::StatusOr<float> FiniteFloat(const Json& value, const std::string& key) {
  if (!value.is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(key, " must be a number, got ", Show(value)));
  }
  const double d = value.get<double>();
  // The value is stored as float32 (the model computes in float32); it must
  // survive that.
  const auto f = static_cast<float>(d);
  if (!std::isfinite(d) || !std::isfinite(f)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " must be a finite float32 number, got ", Show(value)));
  }
  return f;
}

absl::StatusOr<std::vector<float>> PerChannel(const Json& input, absl::string_view key,
                                              int channels, float default_value) {
  auto it = input.find(std::string(key));
  if (it == input.end()) return std::vector<float>(static_cast<size_t>(channels), default_value);
  if (!it->is_array() || it->size() != static_cast<size_t>(channels)) {
    return absl::InvalidArgumentError(absl::StrCat(Key(key), " must be an array of ", channels,
                                                   " numbers (one per channel), got ", Show(*it)));
  }
  std::vector<float> values;
  for (size_t i = 0; i < it->size(); ++i) {
    ASSIGN_OR_RETURN(const float v, FiniteFloat((*it)[i], Key(key, i)));
    values.push_back(v);
  }
  return values;
}

absl::StatusOr<int> Interpolation(absl::string_view resize) {
  if (resize == "nearest") return cv::INTER_NEAREST;
  if (resize == "bilinear") return cv::INTER_LINEAR;
  if (resize == "bicubic") return cv::INTER_CUBIC;
  if (resize == "area") return cv::INTER_AREA;
  if (resize == "lanczos") return cv::INTER_LANCZOS4;
  return absl::InvalidArgumentError(
      absl::StrCat("input.resize must be \"nearest\", \"bilinear\", "
                   "\"bicubic\", \"area\" or \"lanczos\", got "
                   "\"",
                   resize, "\""));
}

// The one refusal of bytes that are not an image we decode, from PeekImageSize and
// DecodeImageInto alike. It lists the formats Debian 12's OpenCV 4.6 decodes; GIF is never among
// them (that OpenCV has no GIF decoder: cv::imdecode returns an empty image), and a GIF is told so.
absl::Status NotAnImage(absl::string_view bytes) {
  const bool gif = absl::StartsWith(bytes, "GIF87a") || absl::StartsWith(bytes, "GIF89a");
  return absl::InvalidArgumentError(
      absl::StrCat("image is not a decodable PNG/JPEG/BMP/TIFF/WebP (",
                   gif ? "GIF is not supported; " : "", bytes.size(), " bytes)"));
}

// Checks the invariants ParseInputSpec establishes, for specs built in code.
absl::Status CheckSpec(const InputSpec& spec) {
  if (!spec.images) {
    return absl::InvalidArgumentError(
        absl::StrCat("this model takes tensors of shape ", ShapeToString(spec.tensor_shape),
                     " (FP32/FP64, batch axis first), not encoded images"));
  }
  if (spec.image_layout != "CHW" && spec.image_layout != "HWC") {
    return absl::InvalidArgumentError(
        absl::StrCat("input spec: image_layout \"", spec.image_layout, "\""));
  }
  if (spec.grayscale ? spec.channels != 1 : spec.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input spec: ", spec.channels, " channels for a ",
                     spec.grayscale ? "grayscale" : "colour", " model"));
  }
  if (spec.height < 1 || spec.width < 1 || spec.height > kMaxInputSide ||
      spec.width > kMaxInputSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("input spec: bad size ", spec.height, "x", spec.width));
  }
  if ((!spec.mean.empty() && spec.mean.size() != static_cast<size_t>(spec.channels)) ||
      (!spec.std.empty() && spec.std.size() != static_cast<size_t>(spec.channels))) {
    return absl::InvalidArgumentError(absl::StrCat("input spec: mean has ", spec.mean.size(),
                                                   " values and std ", spec.std.size(), " for ",
                                                   spec.channels, " channels"));
  }
  if (!spec.mean_image.empty() &&
      spec.mean_image.size() != static_cast<size_t>(NumElements(spec.shape()))) {
    return absl::InvalidArgumentError(absl::StrCat("input spec: mean_image has ",
                                                   spec.mean_image.size(), " values for shape ",
                                                   ShapeToString(spec.shape())));
  }
  if (spec.channel_order != "RGB" && spec.channel_order != "BGR") {
    return absl::InvalidArgumentError(
        absl::StrCat("input spec: channel_order \"", spec.channel_order, "\""));
  }
  return Interpolation(spec.resize).status();
}

}  // namespace

absl::StatusOr<InputSpec> ParseInputSpec(const nlohmann::json& input) {
  if (!input.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("input must be an object, got ", Show(input)));
  }
  InputSpec spec;

  if (auto it = input.find("name"); it != input.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.name must be a non-empty string, got ", Show(*it)));
    }
    spec.name = it->get<std::string>();
  }

  auto shape_it = input.find("shape");
  if (shape_it == input.end()) {
    return absl::InvalidArgumentError(
        "input.shape is required (one input without the batch axis, e.g. [channels, height, "
        "width])");
  }
  if (!shape_it->is_array() || shape_it->empty() || shape_it->size() > kMaxInputRank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input.shape must be a list of 1 to ", kMaxInputRank,
        " positive integers (one input without the batch axis), got ", Show(*shape_it)));
  }
  Shape shape;
  for (size_t i = 0; i < shape_it->size(); ++i) {
    ASSIGN_OR_RETURN(const int64_t d,
                     PositiveInt((*shape_it)[i], Key("shape", i), kMaxInputElements));
    shape.push_back(d);
  }
  if (NumElements(shape) > kMaxInputElements) {
    return absl::InvalidArgumentError(
        absl::StrCat("input.shape ", Show(*shape_it), " has ", NumElements(shape),
                     " elements, more than the limit of ", kMaxInputElements));
  }

  if (auto it = input.find("image_layout"); it != input.end()) {
    if (!it->is_string() || (*it != "CHW" && *it != "HWC")) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.image_layout must be \"CHW\" or \"HWC\", got ", Show(*it)));
    }
    spec.image_layout = it->get<std::string>();
  }
  const bool hwc = spec.image_layout == "HWC";
  const size_t channel_axis = hwc ? 2 : 0;
  const bool image_shape =
      shape.size() == 3 && (shape[channel_axis] == 1 || shape[channel_axis] == 3);
  spec.images = image_shape;
  if (auto it = input.find("images"); it != input.end()) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.images must be true or false, got ", Show(*it)));
    }
    spec.images = it->get<bool>();
    if (spec.images && !image_shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.images is true but input.shape ", Show(*shape_it), " is not an image: images ",
          hwc ? "need [height, width, channels] (image_layout HWC)"
              : "need [channels, height, width] (image_layout CHW)",
          " with 1 (grayscale) or 3 (colour) channels"));
    }
  }
  if (!spec.images) {
    // A tensor-only model: preprocessing describes encoded images, which it never receives.
    for (const char* key : {"grayscale", "channels", "channel_order", "scale", "mean", "std",
                            "resize", "mean_image"}) {
      if (input.contains(key)) {
        return absl::InvalidArgumentError(absl::StrCat(
            Key(key), " describes encoded images, but this model takes tensors of shape ",
            Show(*shape_it), " only (",
            input.contains("images") ? "input.images is false" : "not an image shape", ")"));
      }
    }
    spec.tensor_shape = std::move(shape);
    spec.channels = 0;
    spec.grayscale = false;
    return spec;
  }
  const int64_t channels = shape[channel_axis];
  spec.channels = static_cast<int>(channels);
  const size_t height_axis = hwc ? 0 : 1;
  const size_t width_axis = hwc ? 1 : 2;
  for (const auto& [axis, what] : {std::pair<size_t, const char*>{height_axis, "height"},
                                   std::pair<size_t, const char*>{width_axis, "width"}}) {
    if (shape[axis] > kMaxInputSide) {
      return absl::InvalidArgumentError(absl::StrCat(Key("shape", axis), " (", what,
                                                     ") must be at most ", kMaxInputSide,
                                                     " for an image model, got ", shape[axis]));
    }
  }
  spec.height = static_cast<int>(shape[height_axis]);
  spec.width = static_cast<int>(shape[width_axis]);

  if (auto it = input.find("channels"); it != input.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() != channels || it->get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("input.channels must equal input.shape[",
                                                     channel_axis, "] (", channels, "), got ",
                                                     Show(*it)));
    }
  }

  spec.grayscale = channels == 1;
  if (auto it = input.find("grayscale"); it != input.end()) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.grayscale must be true or false, got ", Show(*it)));
    }
    spec.grayscale = it->get<bool>();
  }
  // A grayscale model takes one luminance plane; a colour model takes three
  // planes. A one-channel "colour" model has no meaning (which of R, G, B would
  // it see?), so it is refused rather than guessed at.
  if (spec.grayscale && channels != 1) {
    return absl::InvalidArgumentError(absl::StrCat("input.grayscale is true but input.shape[",
                                                   channel_axis, "] is ", channels,
                                                   "; grayscale models have 1 channel"));
  }
  if (!spec.grayscale && channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input.grayscale is false but input.shape[", channel_axis, "] is ", channels,
                     "; colour models have 3 channels (set \"grayscale\": true for "
                     "1-channel models)"));
  }

  if (auto it = input.find("channel_order"); it != input.end()) {
    if (!it->is_string() || (*it != "RGB" && *it != "BGR")) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.channel_order must be \"RGB\" or \"BGR\", got ", Show(*it)));
    }
    spec.channel_order = it->get<std::string>();
  }

  if (auto it = input.find("scale"); it != input.end()) {
    ASSIGN_OR_RETURN(spec.scale, FiniteFloat(*it, "input.scale"));
    if (spec.scale == 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.scale must be non-zero, got ", Show(*it)));
    }
  }

  ASSIGN_OR_RETURN(spec.mean, PerChannel(input, "mean", spec.channels, 0.0f));
  ASSIGN_OR_RETURN(spec.std, PerChannel(input, "std", spec.channels, 1.0f));
  for (size_t c = 0; c < spec.std.size(); ++c) {
    if (spec.std[c] == 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat(Key("std", c), " must be non-zero, got ", Show(input["std"][c])));
    }
  }

  if (auto it = input.find("resize"); it != input.end()) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.resize must be \"nearest\", \"bilinear\", "
                       "\"bicubic\", \"area\" or \"lanczos\", "
                       "got ",
                       Show(*it)));
    }
    spec.resize = it->get<std::string>();
    RETURN_IF_ERROR(Interpolation(spec.resize).status());
  }

  if (auto it = input.find("mean_image"); it != input.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.mean_image must name a params.npz member (a string), got ", Show(*it)));
    }
    spec.mean_image_param = it->get<std::string>();
  }
  return spec;
}

absl::Status DecodeImageInto(absl::string_view bytes, const InputSpec& spec, float* out) {
  RETURN_IF_ERROR(CheckSpec(spec));
  // cv::imdecode asserts on an empty buffer and takes an int length.
  if (bytes.empty() || bytes.size() > static_cast<size_t>(INT_MAX)) return NotAnImage(bytes);
  const int interpolation = *Interpolation(spec.resize);

  cv::Mat image;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1,
                         const_cast<char*>(bytes.data()));
    image = cv::imdecode(buffer, spec.grayscale ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    const int expected_type = spec.grayscale ? CV_8UC1 : CV_8UC3;
    if (image.empty() || image.type() != expected_type) return NotAnImage(bytes);
    if (image.rows != spec.height || image.cols != spec.width) {
      cv::Mat resized;
      cv::resize(image, resized, cv::Size(spec.width, spec.height), 0, 0, interpolation);
      image = resized;
    }
  } catch (const cv::Exception&) {
    // OpenCV's decoders throw on some damaged inputs; a bad request must not
    // take the server down.
    return NotAnImage(bytes);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory decoding a ", bytes.size(), "-byte image"));
  }

  // OpenCV decodes colour as BGR; give NormalizePixels the model's channel order.
  if (spec.channels == 3 && spec.channel_order == "RGB") {
    cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  }
  if (!image.isContinuous()) image = image.clone();
  NormalizePixels(image.ptr<uint8_t>(0), spec, out);
  return absl::OkStatus();
}

void NormalizePixels(const uint8_t* pixels, const InputSpec& spec, float* out) {
  const size_t channels = static_cast<size_t>(spec.channels);
  const size_t plane = static_cast<size_t>(spec.height) * static_cast<size_t>(spec.width);
  // CHW: channel c's values form a plane; HWC: they stay interleaved, as the pixels are.
  const bool hwc = spec.image_layout == "HWC";
  const size_t out_stride = hwc ? channels : 1;
  const bool mean_image = spec.mean_image.size() == plane * channels;
  for (size_t c = 0; c < channels; ++c) {
    const float scale = spec.scale;
    const float mean = spec.mean.empty() ? 0.0f : spec.mean[c];
    const float stddev = spec.std.empty() ? 1.0f : spec.std[c];
    const size_t first = hwc ? c : c * plane;
    float* dst = out + first;
    const float* image_mean = mean_image ? spec.mean_image.data() + first : nullptr;
    const uint8_t* src = pixels + c;
    for (size_t i = 0; i < plane; ++i) {
      const float pixel = static_cast<float>(src[i * channels]);
      // In float32, in this order: (float32(pixel) * scale - mean[c] - mean_image) / std[c].
      float x = pixel * scale - mean;
      if (image_mean != nullptr) x -= image_mean[i * out_stride];
      dst[i * out_stride] = x / stddev;
    }
  }
}

absl::StatusOr<Tensor<float>> DecodeImages(const std::vector<std::string>& images,
                                           const InputSpec& spec) {
  RETURN_IF_ERROR(CheckSpec(spec));
  Tensor<float> batch(spec.BatchShape(static_cast<int64_t>(images.size())));
  const size_t per_image = static_cast<size_t>(spec.channels) * static_cast<size_t>(spec.height) *
                           static_cast<size_t>(spec.width);
  for (size_t i = 0; i < images.size(); ++i) {
    const absl::Status status = DecodeImageInto(images[i], spec, batch.data() + i * per_image);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("image ", i, ": ", status.message()));
    }
  }
  return batch;
}

absl::StatusOr<std::string> EncodeImage(const uint8_t* pixels, int height, int width, int channels,
                                        absl::string_view format) {
  if (pixels == nullptr || height < 1 || width < 1 || (channels != 1 && channels != 3)) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodeImage: bad image ", height, "x", width, "x", channels));
  }
  const std::string extension = absl::StrCat(".", absl::AsciiStrToLower(format));
  static const char* const kFormats[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"};
  if (std::find(std::begin(kFormats), std::end(kFormats), extension) == std::end(kFormats)) {
    return absl::InvalidArgumentError(absl::StrCat("EncodeImage: unknown format \"", format,
                                                   "\" (png, jpg, jpeg, bmp, tif, tiff, webp)"));
  }
  try {
    const cv::Mat source(height, width, channels == 1 ? CV_8UC1 : CV_8UC3,
                         const_cast<uint8_t*>(pixels));
    cv::Mat bgr;
    if (channels == 3) {
      cv::cvtColor(source, bgr, cv::COLOR_RGB2BGR);
    } else {
      bgr = source;
    }
    std::vector<uint8_t> encoded;
    if (!cv::imencode(extension, bgr, encoded)) {
      return absl::InternalError(absl::StrCat("EncodeImage: OpenCV cannot encode ", extension));
    }
    return std::string(encoded.begin(), encoded.end());
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("EncodeImage: ", e.what()));
  }
}

namespace {

uint32_t Be16(const unsigned char* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t Be32(const unsigned char* p) { return (Be16(p) << 16) | Be16(p + 2); }
uint32_t Le16(const unsigned char* p) { return (uint32_t{p[1]} << 8) | p[0]; }
uint32_t Le24(const unsigned char* p) { return (uint32_t{p[2]} << 16) | Le16(p); }
uint32_t Le32(const unsigned char* p) { return (uint32_t{p[3]} << 24) | Le24(p); }

absl::Status BadHeader(absl::string_view format, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("damaged ", format, " header: ", why));
}

absl::StatusOr<ImageHeaderInfo> Info(absl::string_view format, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) {
    return BadHeader(format, absl::StrCat("size ", width, "x", height));
  }
  return ImageHeaderInfo{std::string(format), width, height};
}

absl::StatusOr<ImageHeaderInfo> PeekJpeg(const unsigned char* p, size_t n) {
  size_t pos = 2;  // After SOI (FF D8).
  while (true) {
    // Markers may be preceded by any number of FF fill bytes.
    while (pos < n && p[pos] == 0xFF) ++pos;
    if (pos >= n) return BadHeader("JPEG", "no frame header (SOF) before the end of the data");
    const unsigned char marker = p[pos++];
    if (marker == 0xD9 || marker == 0xDA) {
      return BadHeader("JPEG", "no frame header (SOF) before the image data");
    }
    // Standalone markers without a length.
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (pos + 2 > n) return BadHeader("JPEG", "truncated segment length");
    const size_t length = Be16(p + pos);
    if (length < 2) return BadHeader("JPEG", absl::StrCat("segment length ", length));
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height,
    // width.
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (length < 7 || pos + 7 > n) return BadHeader("JPEG", "truncated frame header");
      return Info("jpeg", Be16(p + pos + 5), Be16(p + pos + 3));
    }
    pos += length;
  }
}

absl::StatusOr<ImageHeaderInfo> PeekTiff(const unsigned char* p, size_t n) {
  const bool little = p[0] == 'I';
  auto u16 = [&](size_t at) { return little ? Le16(p + at) : Be16(p + at); };
  auto u32 = [&](size_t at) { return little ? Le32(p + at) : Be32(p + at); };
  if (n < 8) return BadHeader("TIFF", "truncated");
  const size_t ifd = u32(4);
  if (ifd > n || n - ifd < 2) return BadHeader("TIFF", absl::StrCat("IFD offset ", ifd));
  const size_t entries = u16(ifd);
  if ((n - ifd - 2) / 12 < entries) return BadHeader("TIFF", "truncated IFD");
  int64_t width = -1, height = -1, rows_per_strip = -1, tile_width = -1, tile_length = -1;
  for (size_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    const uint32_t tag = u16(e), type = u16(e + 2);
    // SHORT (3) values sit in the first two bytes of the value field, LONG (4)
    // fill it.
    int64_t value = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : -1;
    int64_t* field = tag == 256   ? &width
                     : tag == 257 ? &height
                     : tag == 278 ? &rows_per_strip
                     : tag == 322 ? &tile_width
                     : tag == 323 ? &tile_length
                                  : nullptr;
    if (field == nullptr) continue;
    // A repeated size tag keeps its largest value: the decoder may use any of them (a 12060-wide
    // TIFF said width 1 the second time, and OpenCV decoded 12060; found by fuzz_image).
    *field = std::max(*field, value);
  }
  absl::StatusOr<ImageHeaderInfo> info = Info("tiff", width, height);
  if (!info.ok()) return info;
  // What OpenCV's TIFF decoder allocates per strip or tile (docs/RELIABILITY.md finding 10).
  if (tile_width > 0 && tile_length > 0) {
    info->block_width = tile_width;
    info->block_height = tile_length;
  } else if (rows_per_strip > height) {
    info->block_width = width;
    info->block_height = rows_per_strip;
  }
  return info;
}

absl::StatusOr<ImageHeaderInfo> PeekWebp(const unsigned char* p, size_t n) {
  if (n < 30) return BadHeader("WebP", "truncated");
  const absl::string_view chunk(reinterpret_cast<const char*>(p + 12), 4);
  if (chunk == "VP8 ") {
    // Lossy: frame tag (3 bytes) at 20, start code 9D 01 2A at 23, 14-bit sizes
    // at 26 and 28.
    if (p[23] != 0x9D || p[24] != 0x01 || p[25] != 0x2A) return BadHeader("WebP", "VP8 start code");
    return Info("webp", Le16(p + 26) & 0x3FFF, Le16(p + 28) & 0x3FFF);
  }
  if (chunk == "VP8L") {
    // Lossless: signature 2F at 20, then width-1 and height-1 as 14-bit fields.
    if (p[20] != 0x2F) return BadHeader("WebP", "VP8L signature");
    const uint32_t bits = Le32(p + 21);
    return Info("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (chunk == "VP8X") {
    // Extended: 24-bit canvas width-1 at 24, height-1 at 27.
    return Info("webp", int64_t{Le24(p + 24)} + 1, int64_t{Le24(p + 27)} + 1);
  }
  return BadHeader("WebP", absl::StrCat("unknown first chunk \"", chunk, "\""));
}

}  // namespace

absl::Status CheckImagePixels(const ImageHeaderInfo& header, int64_t max_pixels) {
  auto over = [max_pixels](int64_t w, int64_t h) { return h > 0 && w > max_pixels / h; };
  if (over(header.width, header.height)) {
    return absl::ResourceExhaustedError(
        absl::StrCat(header.format, " header says ", header.width, "x", header.height,
                     " pixels, more than the limit of ", max_pixels));
  }
  if (over(header.block_width, header.block_height)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        header.format, " header says ", header.width, "x", header.height, " pixels in ",
        header.format == "tiff" && header.block_width == header.width ? "strips" : "tiles", " of ",
        header.block_width, "x", header.block_height, ", more than the limit of ", max_pixels));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageHeaderInfo> PeekImageSize(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  auto starts_with = [&](absl::string_view prefix) {
    return bytes.substr(0, prefix.size()) == prefix;
  };
  if (starts_with("\x89PNG\r\n\x1a\n")) {
    // The IHDR chunk comes first: length (4), "IHDR", width (4), height (4).
    if (n < 24 || bytes.substr(12, 4) != "IHDR") return BadHeader("PNG", "no IHDR chunk");
    return Info("png", Be32(p + 16), Be32(p + 20));
  }
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return PeekJpeg(p, n);
  if (starts_with("BM")) {
    if (n < 26) return BadHeader("BMP", "truncated");
    const uint32_t dib_size = Le32(p + 14);
    if (dib_size == 12) return Info("bmp", Le16(p + 18), Le16(p + 20));  // BITMAPCOREHEADER
    // BITMAPINFOHEADER and later: signed 32-bit sizes; a negative height means
    // top-down rows.
    const auto width = static_cast<int32_t>(Le32(p + 18));
    const auto height = static_cast<int32_t>(Le32(p + 22));
    return Info("bmp", width, height == INT32_MIN ? -1 : std::abs(int64_t{height}));
  }
  if (n >= 12 && starts_with("RIFF") && bytes.substr(8, 4) == "WEBP") return PeekWebp(p, n);
  if (starts_with(absl::string_view("II*\0", 4)) || starts_with(absl::string_view("MM\0*", 4))) {
    return PeekTiff(p, n);
  }
  return NotAnImage(bytes);  // GIF included: OpenCV 4.6 cannot decode it.
}

}  // namespace theano_serving
