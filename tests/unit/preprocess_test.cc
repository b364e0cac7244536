// Tests for core/preprocess: the model's `input` spec, decoding of the shipped
// sample PNGs against the golden pixels, colour handling on images encoded here
// with OpenCV, and garbage input.
#include "core/preprocess.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

const std::string kModelDir = std::string(TS_SOURCE_DIR) + "/models/fashion_lenet";

std::string Message(const absl::Status& status) { return std::string(status.message()); }

Json ModelInput() {
  std::ifstream in(kModelDir + "/1/model.json");
  return Json::parse(in).at("input");
}

InputSpec ParseOrDie(const Json& input) {
  absl::StatusOr<InputSpec> spec = ParseInputSpec(input);
  EXPECT_TRUE(spec.ok()) << spec.status() << " for " << input.dump();
  return spec.ok() ? *spec : InputSpec();
}

InputSpec ColourSpec(int height, int width, const std::string& order) {
  return ParseOrDie({{"shape", {3, height, width}}, {"channel_order", order}});
}

// An RGB test image (HWC, interleaved) whose channels are distinguishable
// everywhere: R = 10 + y, G = 100 + x, B = 200 + x + y.
std::vector<uint8_t> RgbRamp(int height, int width) {
  std::vector<uint8_t> pixels;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      pixels.push_back(static_cast<uint8_t>(10 + y));
      pixels.push_back(static_cast<uint8_t>(100 + x));
      pixels.push_back(static_cast<uint8_t>(200 + x + y));
    }
  }
  return pixels;
}

std::string Encode(const std::vector<uint8_t>& pixels, int height, int width, int channels,
                   const std::string& format) {
  absl::StatusOr<std::string> bytes = EncodeImage(pixels.data(), height, width, channels, format);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

TEST(InputSpecTest, ParsesSharedModelInput) {
  // models/fashion_lenet/1/model.json: shape [1, 28, 28], grayscale, scale
  // 1/255, plus documentation keys (layout, dtype, source, preprocessing,
  // row_major_image) that are ignored.
  const InputSpec spec = ParseOrDie(ModelInput());
  EXPECT_EQ(spec.name, "input");
  EXPECT_EQ(spec.shape(), (Shape{1, 28, 28}));
  EXPECT_TRUE(spec.grayscale);
  EXPECT_EQ(spec.scale,
            0.003921568859368563f);  // float32(0.00392156862745098), per model.json.
  EXPECT_EQ(spec.scale, static_cast<float>(1.0 / 255.0));
  EXPECT_EQ(spec.mean, std::vector<float>{0.0f});
  EXPECT_EQ(spec.std, std::vector<float>{1.0f});
  EXPECT_EQ(spec.resize, "bilinear");
  EXPECT_EQ(spec.channel_order, "RGB");
}

TEST(InputSpecTest, ParsesColourSpecWithAllKeys) {
  const InputSpec spec = ParseOrDie({{"name", "data"},
                                     {"shape", {3, 224, 200}},
                                     {"channels", 3},
                                     {"grayscale", false},
                                     {"channel_order", "BGR"},
                                     {"scale", 2},
                                     {"mean", {103.939, 116.779, 123.68}},
                                     {"std", {1, 2, 0.5}},
                                     {"resize", "area"}});
  EXPECT_EQ(spec.name, "data");
  EXPECT_EQ(spec.channels, 3);
  EXPECT_EQ(spec.height, 224);
  EXPECT_EQ(spec.width, 200);
  EXPECT_FALSE(spec.grayscale);
  EXPECT_EQ(spec.channel_order, "BGR");
  EXPECT_EQ(spec.scale, 2.0f);
  EXPECT_EQ(spec.mean, (std::vector<float>{103.939f, 116.779f, 123.68f}));
  EXPECT_EQ(spec.std, (std::vector<float>{1.0f, 2.0f, 0.5f}));
  EXPECT_EQ(spec.resize, "area");
  // grayscale defaults to (C == 1).
  EXPECT_FALSE(ParseOrDie({{"shape", {3, 8, 8}}}).grayscale);
  EXPECT_TRUE(ParseOrDie({{"shape", {1, 8, 8}}}).grayscale);
  EXPECT_EQ(spec.shape(), (Shape{3, 224, 200}));
}

TEST(InputSpecTest, ImagesAreOneOrThreeChannelRankThreeShapesUnlessSaidOtherwise) {
  // Channels last (Keras' channels_last): the same image, (H, W, C).
  const InputSpec hwc = ParseOrDie({{"shape", {24, 20, 3}}, {"image_layout", "HWC"}});
  EXPECT_TRUE(hwc.images);
  EXPECT_EQ(hwc.channels, 3);
  EXPECT_EQ(hwc.height, 24);
  EXPECT_EQ(hwc.width, 20);
  EXPECT_EQ(hwc.shape(), (Shape{24, 20, 3}));
  EXPECT_EQ(hwc.BatchShape(5), (Shape{5, 24, 20, 3}));
  // A 4-channel sensor grid, an MLP's vector, a rank-4 volume: tensors only.
  for (const Json& shape : {Json{4, 13, 11}, Json{100}, Json{2, 3, 4, 5}, Json{3, 28, 28, 1}}) {
    const InputSpec spec = ParseOrDie({{"shape", shape}});
    EXPECT_FALSE(spec.images) << shape.dump();
    EXPECT_EQ(Json(spec.shape()), shape);
  }
  // An image shape may still be declared tensors-only.
  const InputSpec grid = ParseOrDie({{"shape", {3, 8, 8}}, {"images", false}});
  EXPECT_FALSE(grid.images);
  EXPECT_EQ(grid.shape(), (Shape{3, 8, 8}));
}

TEST(PreprocessTest, TensorOnlyModelsRefuseImagesNamingTheirShape) {
  const InputSpec spec = ParseOrDie({{"shape", {4, 13, 11}}});
  std::vector<float> out(4 * 13 * 11);
  const std::string png = Encode(std::vector<uint8_t>(13 * 11, 7), 13, 11, 1, "png");
  const absl::Status status = DecodeImageInto(png, spec, out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(status),
            "this model takes tensors of shape (4, 13, 11) (FP32/FP64, batch axis first), not "
            "encoded images");
}

TEST(PreprocessTest, ChannelsLastModelsGetInterleavedValues) {
  // By hand: a 1x2 RGB image with pixels (10, 20, 30) and (40, 50, 60), scale 0.5, mean 1.
  const std::vector<uint8_t> pixels = {10, 20, 30, 40, 50, 60};
  const InputSpec hwc = ParseOrDie(
      {{"shape", {1, 2, 3}}, {"image_layout", "HWC"}, {"scale", 0.5}, {"mean", {1, 1, 1}}});
  std::vector<float> out(6);
  NormalizePixels(pixels.data(), hwc, out.data());
  EXPECT_EQ(out, (std::vector<float>{4, 9, 14, 19, 24, 29}));
  const InputSpec chw = ParseOrDie({{"shape", {3, 1, 2}}, {"scale", 0.5}, {"mean", {1, 1, 1}}});
  NormalizePixels(pixels.data(), chw, out.data());
  EXPECT_EQ(out, (std::vector<float>{4, 19, 9, 24, 14, 29}));
  // Decoding a PNG: the same layouts (lossless, so the pixel values survive).
  const std::string png = Encode(pixels, 1, 2, 3, "png");
  ASSERT_TRUE(DecodeImageInto(png, hwc, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{4, 9, 14, 19, 24, 29}));
}

TEST(InputSpecTest, RejectsBadValuesNamingKeyAndValue) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {Json::array({1, 2}), "input must be an object, got [1,2]"},
      {{{"name", "x"}}, "input.shape is required"},
      {{{"shape", Json::array()}},
       "input.shape must be a list of 1 to 8 positive integers (one input without the batch "
       "axis), got []"},
      {{{"shape", 28}}, "input.shape must be a list of 1 to 8 positive integers"},
      {{{"shape", {1, 0, 28}}}, "input.shape[1] must be an integer from 1 to 2147483648, got 0"},
      {{{"shape", {1, 28, -5}}}, "input.shape[2] must be an integer from 1 to 2147483648, got -5"},
      {{{"shape", {1, 28.5, 28}}},
       "input.shape[1] must be an integer from 1 to 2147483648, got 28.5"},
      {{{"shape", {1, "28", 28}}},
       "input.shape[1] must be an integer from 1 to 2147483648, got \"28\""},
      {{{"shape", {1, 40000, 28}}},
       "input.shape[1] (height) must be at most 32768 for an image model, got 40000"},
      {{{"shape", {65536, 65536}}},
       "input.shape [65536,65536] has 4294967296 elements, more than the limit of 2147483648"},
      {{{"shape", {4, 28, 28}}, {"images", true}},
       "input.images is true but input.shape [4,28,28] is not an image: images need [channels, "
       "height, width] (image_layout CHW) with 1 (grayscale) or 3 (colour) channels"},
      {{{"shape", {28, 28, 3}}, {"images", true}},
       "input.images is true but input.shape [28,28,3] is not an image"},
      {{{"shape", {3, 28, 28}}, {"images", "no"}},
       "input.images must be true or false, got \"no\""},
      {{{"shape", {3, 28, 28}}, {"image_layout", "NHWC"}},
       "input.image_layout must be \"CHW\" or \"HWC\", got \"NHWC\""},
      {{{"shape", {4, 13, 11}}, {"mean", {1, 2, 3, 4}}},
       "input.mean describes encoded images, but this model takes tensors of shape [4,13,11] "
       "only (not an image shape)"},
      {{{"shape", {3, 28, 28}}, {"images", false}, {"scale", 2}},
       "input.scale describes encoded images, but this model takes tensors of shape [3,28,28] "
       "only (input.images is false)"},
      {{{"shape", {3, 28, 28}}, {"channels", 1}},
       "input.channels must equal input.shape[0] (3), got 1"},
      {{{"shape", {3, 28, 28}}, {"grayscale", true}},
       "input.grayscale is true but input.shape[0] is 3"},
      {{{"shape", {1, 28, 28}}, {"grayscale", false}},
       "input.grayscale is false but input.shape[0] is 1"},
      {{{"shape", {1, 28, 28}}, {"grayscale", "yes"}},
       "input.grayscale must be true or false, got \"yes\""},
      {{{"shape", {3, 28, 28}}, {"channel_order", "RBG"}},
       "input.channel_order must be \"RGB\" or \"BGR\", got \"RBG\""},
      {{{"shape", {1, 28, 28}}, {"scale", "1/255"}}, "input.scale must be a number, got \"1/255\""},
      {{{"shape", {1, 28, 28}}, {"scale", 0}}, "input.scale must be non-zero, got 0"},
      {{{"shape", {1, 28, 28}}, {"scale", 1e300}},
       "input.scale must be a finite float32 number, got 1e+300"},
      {{{"shape", {3, 28, 28}}, {"mean", {1, 2}}},
       "input.mean must be an array of 3 numbers (one per channel), got [1,2]"},
      {{{"shape", {1, 28, 28}}, {"mean", 0.5}},
       "input.mean must be an array of 1 numbers (one per channel), got 0.5"},
      {{{"shape", {3, 28, 28}}, {"mean", {1, nullptr, 2}}},
       "input.mean[1] must be a number, got null"},
      {{{"shape", {3, 28, 28}}, {"std", {1, 0, 2}}}, "input.std[1] must be non-zero, got 0"},
      {{{"shape", {1, 28, 28}}, {"resize", "cubic"}},
       "input.resize must be \"nearest\", \"bilinear\", \"bicubic\", \"area\" "
       "or \"lanczos\", got \"cubic\""},
      {{{"shape", {1, 28, 28}}, {"name", ""}}, "input.name must be a non-empty string, got \"\""},
  };
  for (const auto& [input, error] : cases) {
    absl::StatusOr<InputSpec> spec = ParseInputSpec(input);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << input.dump();
    EXPECT_THAT(Message(spec.status()), HasSubstr(error)) << input.dump();
  }
}

TEST(PreprocessTest, SamplePngsMatchGoldenPixelsExactly) {
  std::ifstream golden_file(std::string(TS_SOURCE_DIR) + "/tests/data/fashion_lenet/golden.json");
  ASSERT_TRUE(golden_file.good());
  const Json golden = Json::parse(golden_file);
  const Json& indices = golden.at("test_indices");
  const Json& pixels = golden.at("pixels").at("data");
  ASSERT_EQ(golden.at("pixels").at("dtype"), "uint8");
  ASSERT_EQ(pixels.size(), 200u * 28 * 28);

  const InputSpec spec = ParseOrDie(ModelInput());
  InputSpec raw = spec;  // Scale 1: the decoded values are the pixels themselves.
  raw.scale = 1.0f;
  const float kScale = static_cast<float>(1.0 / 255.0);  // float32(1/255), as Theano multiplied.
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kModelDir + "/samples")) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".png") continue;
    // "<test index>_<class>.png"
    const int test_index = std::atoi(file.substr(0, file.find('_')).c_str());
    const auto position = std::find(indices.begin(), indices.end(), Json(test_index));
    ASSERT_NE(position, indices.end()) << file << " is not in the golden set";
    const size_t g = static_cast<size_t>(position - indices.begin());

    const std::string bytes = ReadFileToString(entry.path().string()).value_or("");
    std::vector<float> values(28 * 28), raw_values(28 * 28);
    ASSERT_TRUE(DecodeImageInto(bytes, spec, values.data()).ok()) << file;
    ASSERT_TRUE(DecodeImageInto(bytes, raw, raw_values.data()).ok()) << file;
    for (size_t p = 0; p < 28 * 28; ++p) {
      const int pixel = pixels[g * 28 * 28 + p].get<int>();
      ASSERT_EQ(raw_values[p], static_cast<float>(pixel)) << file << " pixel " << p;
      ASSERT_EQ(values[p], static_cast<float>(pixel) * kScale) << file << " pixel " << p;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 20);  // models/fashion_lenet/samples holds 20 PNGs.
}

TEST(PreprocessTest, DecodeImagesBatchesInNchw) {
  const InputSpec spec = ParseOrDie(ModelInput());
  const std::string a = ReadFileToString(kModelDir + "/samples/0000_ankle_boot.png").value_or("");
  const std::string b = ReadFileToString(kModelDir + "/samples/0001_pullover.png").value_or("");
  absl::StatusOr<Tensor<float>> batch = DecodeImages({a, b, a}, spec);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->shape(), (Shape{3, 1, 28, 28}));
  std::vector<float> one(28 * 28);
  ASSERT_TRUE(DecodeImageInto(b, spec, one.data()).ok());
  EXPECT_TRUE(std::equal(one.begin(), one.end(), batch->data() + 28 * 28));
  EXPECT_TRUE(std::equal(batch->data(), batch->data() + 28 * 28, batch->data() + 2 * 28 * 28));
  EXPECT_FALSE(std::equal(one.begin(), one.end(), batch->data()));

  absl::StatusOr<Tensor<float>> bad = DecodeImages({a, a, "garbage"}, spec);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(bad.status()),
            "image 2: image is not a decodable PNG/JPEG/BMP/TIFF/WebP (7 bytes)");
  absl::StatusOr<Tensor<float>> none = DecodeImages({}, spec);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->shape(), (Shape{0, 1, 28, 28}));
}

TEST(PreprocessTest, ChannelOrderRgbAndBgr) {
  // 4x5 RGB ramp, lossless PNG: the planes must be exactly R, G, B (or B, G,
  // R).
  const int h = 4, w = 5;
  const std::vector<uint8_t> rgb = RgbRamp(h, w);
  for (const std::string format : {"png", "bmp", "tiff"}) {
    const std::string bytes = Encode(rgb, h, w, 3, format);
    for (const std::string order : {"RGB", "BGR"}) {
      std::vector<float> out(3 * h * w);
      ASSERT_TRUE(DecodeImageInto(bytes, ColourSpec(h, w, order), out.data()).ok())
          << format << " " << order;
      for (int c = 0; c < 3; ++c) {
        const int source = order == "RGB" ? c : 2 - c;
        for (int i = 0; i < h * w; ++i) {
          ASSERT_EQ(out[static_cast<size_t>(c * h * w + i)],
                    rgb[static_cast<size_t>(3 * i + source)])
              << format << " " << order << " channel " << c << " pixel " << i;
        }
      }
    }
  }
}

TEST(PreprocessTest, JpegColourIsApproximatelyPreserved) {
  // A flat colour survives JPEG within a few levels; the planes must not be
  // swapped.
  const int h = 16, w = 16;
  std::vector<uint8_t> rgb;
  for (int i = 0; i < h * w; ++i) rgb.insert(rgb.end(), {200, 100, 30});
  const std::string bytes = Encode(rgb, h, w, 3, "jpg");
  ASSERT_EQ(static_cast<unsigned char>(bytes[0]), 0xFF);
  std::vector<float> out(3 * h * w);
  ASSERT_TRUE(DecodeImageInto(bytes, ColourSpec(h, w, "RGB"), out.data()).ok());
  const float expected[3] = {200, 100, 30};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < h * w; ++i) {
      ASSERT_NEAR(out[static_cast<size_t>(c * h * w + i)], expected[c], 4.0) << c << " " << i;
    }
  }
}

TEST(PreprocessTest, MeanStdAndScale) {
  const int h = 3, w = 2;
  const std::vector<uint8_t> rgb = RgbRamp(h, w);
  const std::string bytes = Encode(rgb, h, w, 3, "png");
  const InputSpec spec = ParseOrDie({{"shape", {3, h, w}},
                                     {"scale", 0.00392156862745098},
                                     {"mean", {0.485, 0.456, 0.406}},
                                     {"std", {0.229, 0.224, 0.225}}});
  std::vector<float> out(3 * h * w);
  ASSERT_TRUE(DecodeImageInto(bytes, spec, out.data()).ok());
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float stddev[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < h * w; ++i) {
      const float pixel = rgb[static_cast<size_t>(3 * i + c)];
      // The documented float32 formula, evaluated the same way: exact equality.
      const float expected =
          (pixel * static_cast<float>(0.00392156862745098) - mean[c]) / stddev[c];
      ASSERT_EQ(out[static_cast<size_t>(c * h * w + i)], expected) << c << " " << i;
    }
  }
}

TEST(PreprocessTest, ResizesLargerImageDown) {
  // 56x56 grayscale made of constant 2x2 blocks with value (by + 3 * bx) % 256:
  // halving it with any of these interpolations gives back the block values
  // exactly (for bilinear and area the sample is the mean of four equal pixels;
  // nearest picks one of them).
  std::vector<uint8_t> big(56 * 56);
  std::vector<uint8_t> small(28 * 28);
  for (int y = 0; y < 56; ++y) {
    for (int x = 0; x < 56; ++x)
      big[static_cast<size_t>(y * 56 + x)] = static_cast<uint8_t>((y / 2 + 3 * (x / 2)) % 256);
  }
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x)
      small[static_cast<size_t>(y * 28 + x)] = static_cast<uint8_t>((y + 3 * x) % 256);
  }
  const std::string bytes = Encode(big, 56, 56, 1, "png");
  for (const std::string resize : {"nearest", "bilinear", "area"}) {
    InputSpec spec = ParseOrDie({{"shape", {1, 28, 28}}, {"resize", resize}});
    std::vector<float> out(28 * 28);
    ASSERT_TRUE(DecodeImageInto(bytes, spec, out.data()).ok()) << resize;
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i], small[i]) << resize << " pixel " << i;
    }
  }
  // bicubic and lanczos also produce a 28x28 result close to the blocks.
  for (const std::string resize : {"bicubic", "lanczos"}) {
    std::vector<float> out(28 * 28);
    ASSERT_TRUE(
        DecodeImageInto(bytes, ParseOrDie({{"shape", {1, 28, 28}}, {"resize", resize}}), out.data())
            .ok());
    EXPECT_NEAR(out[28 * 10 + 10], small[28 * 10 + 10], 12.0) << resize;
  }
  // And a 28x28 image is not resampled at all (checked exactly above with the
  // golden PNGs).
}

TEST(PreprocessTest, ColourImageToGrayscaleModelAndBack) {
  // Pure red: OpenCV's grayscale conversion gives about 0.299 * 255 = 76.
  std::vector<uint8_t> red;
  for (int i = 0; i < 28 * 28; ++i) red.insert(red.end(), {255, 0, 0});
  const InputSpec gray = ParseOrDie(ModelInput());
  InputSpec gray_raw = gray;
  gray_raw.scale = 1.0f;
  std::vector<float> out(28 * 28);
  ASSERT_TRUE(DecodeImageInto(Encode(red, 28, 28, 3, "png"), gray_raw, out.data()).ok());
  EXPECT_NEAR(out[0], 76.0, 2.0);
  EXPECT_EQ(out[0], out[28 * 28 - 1]);
  // A grayscale PNG given to a colour model: three equal planes.
  const std::string sample =
      ReadFileToString(kModelDir + "/samples/0000_ankle_boot.png").value_or("");
  std::vector<float> colour(3 * 28 * 28);
  ASSERT_TRUE(DecodeImageInto(sample, ColourSpec(28, 28, "RGB"), colour.data()).ok());
  std::vector<float> plane(28 * 28);
  ASSERT_TRUE(DecodeImageInto(sample, gray_raw, plane.data()).ok());
  for (int c = 0; c < 3; ++c) {
    EXPECT_TRUE(std::equal(plane.begin(), plane.end(), colour.begin() + c * 28 * 28)) << c;
  }
}

TEST(PreprocessTest, GarbageEmptyAndTruncatedBytesAreInvalidArgument) {
  const InputSpec spec = ParseOrDie(ModelInput());
  const std::string png = ReadFileToString(kModelDir + "/samples/0000_ankle_boot.png").value_or("");
  ASSERT_GT(png.size(), 100u);
  std::string corrupt = png;
  for (size_t i = 60; i < corrupt.size() - 20; ++i)
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0xA5);
  const std::vector<std::string> bad = {
      "",
      "x",
      "not an image at all",
      std::string(1000, '\0'),
      png.substr(0, 8),               // PNG signature only
      png.substr(0, png.size() / 2),  // truncated PNG
      corrupt,
      std::string("\xFF\xD8\xFF\xE0", 4) + std::string(50, 'j'),  // JPEG header, no data
      "BM" + std::string(60, '\xff'),
  };
  for (const std::string& bytes : bad) {
    std::vector<float> out(28 * 28);
    const absl::Status status = DecodeImageInto(bytes, spec, out.data());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bytes.size();
    EXPECT_EQ(Message(status), "image is not a decodable PNG/JPEG/BMP/TIFF/WebP (" +
                                   std::to_string(bytes.size()) + " bytes)");
  }
}

TEST(PreprocessTest, PeekImageSizeReadsHeadersOnly) {
  const int h = 23, w = 37;
  const std::vector<uint8_t> rgb = RgbRamp(h, w);
  for (const std::string format : {"png", "jpg", "bmp", "tiff", "webp"}) {
    const std::string bytes = Encode(rgb, h, w, 3, format);
    absl::StatusOr<ImageHeaderInfo> info = PeekImageSize(bytes);
    ASSERT_TRUE(info.ok()) << format << ": " << info.status();
    EXPECT_EQ(info->width, w) << format;
    EXPECT_EQ(info->height, h) << format;
    // Only the header is needed: the first 64 bytes suffice, except for JPEG
    // (the frame header follows the quantisation tables) and TIFF (OpenCV
    // writes the IFD after the pixel data).
    if (format != "jpg" && format != "tiff") {
      EXPECT_TRUE(PeekImageSize(bytes.substr(0, 64)).ok()) << format;
    }
  }
  // A shipped sample (8-bit grayscale PNG, 28x28).
  EXPECT_EQ(PeekImageSize(ReadFileToString(kModelDir + "/samples/0000_ankle_boot.png").value_or(""))
                ->width,
            28);
  // GIF, built by hand: "GIF89a", width 640, height 480 (little-endian). Debian's OpenCV 4.6
  // cannot decode GIF, so its header is refused with the decoder's message for a GIF, and a whole
  // 1x1 GIF (by hand: header, 2-colour table, graphic control extension, image descriptor, LZW
  // data, trailer) gets the same from DecodeImageInto.
  const std::string gif_header = std::string("GIF89a\x80\x02\xe0\x01", 10) + std::string(10, '\0');
  EXPECT_EQ(Message(PeekImageSize(gif_header).status()),
            "image is not a decodable PNG/JPEG/BMP/TIFF/WebP (GIF is not supported; 20 bytes)");
  const std::string gif(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x01\x00\x00\x00"
      "\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
      43);
  const std::string gif_refused =
      "image is not a decodable PNG/JPEG/BMP/TIFF/WebP (GIF is not supported; 43 bytes)";
  std::vector<float> pixels(28 * 28);
  EXPECT_EQ(Message(DecodeImageInto(gif, ParseOrDie(ModelInput()), pixels.data())), gif_refused);
  EXPECT_EQ(Message(PeekImageSize(gif).status()), gif_refused);
  // Any other format gets the same words, without the GIF note.
  EXPECT_EQ(Message(PeekImageSize("hello").status()),
            "image is not a decodable PNG/JPEG/BMP/TIFF/WebP (5 bytes)");
  // A decompression bomb's header is read without decoding: PNG claiming 100000
  // x 100000.
  const std::string bomb =
      std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0", 24);
  absl::StatusOr<ImageHeaderInfo> info = PeekImageSize(bomb);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->width * info->height, int64_t{10000000000});

  for (const std::string& bad :
       {std::string(), std::string("hello"), std::string("\x89PNG\r\n\x1a\n", 8),
        std::string("\xFF\xD8\xFF\xE0\x00\x10", 6), std::string("BM12")}) {
    EXPECT_EQ(PeekImageSize(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad.size();
  }
}

TEST(PreprocessTest, EncodeImageRejectsBadArguments) {
  const std::vector<uint8_t> pixels(12);
  EXPECT_FALSE(EncodeImage(pixels.data(), 2, 2, 3, "gif").ok());
  EXPECT_FALSE(EncodeImage(pixels.data(), 0, 2, 3, "png").ok());
  EXPECT_FALSE(EncodeImage(pixels.data(), 2, 2, 4, "png").ok());
  EXPECT_TRUE(EncodeImage(pixels.data(), 2, 2, 3, "PNG").ok());
}

}  // namespace
}  // namespace theano_serving

namespace theano_serving {
namespace {

// docs/RELIABILITY.md finding 10: a 538-byte TIFF, 12060x28 (337,680 pixels) with RowsPerStrip
// 63260, made OpenCV 4.6 allocate a 12060x63260 strip (3 GB). The strip counts against the limit.
TEST(PreprocessTest, CheckImagePixelsCountsTiffStrips) {
  const std::string tiff = ReadFileToString(std::string(TS_SOURCE_DIR) +
                                            "/tests/fuzz/regressions/fuzz_image/"
                                            "tiff_12060x28_rowsperstrip_63260_allocates_3gb")
                               .value_or("");
  absl::StatusOr<ImageHeaderInfo> info = PeekImageSize(tiff);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, "tiff");
  EXPECT_EQ(info->width, 12060);
  EXPECT_EQ(info->height, 28);
  EXPECT_EQ(info->block_width, 12060);
  EXPECT_EQ(info->block_height, 63260);
  const absl::Status s = CheckImagePixels(*info, 4096LL * 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "tiff header says 12060x28 pixels in strips of 12060x63260, more than the limit of "
            "16777216");
  // The image alone would pass; a strip within the limit passes too.
  ImageHeaderInfo small = *info;
  small.block_height = 1000;
  EXPECT_TRUE(CheckImagePixels(small, 4096LL * 4096).ok());
  // 32-bit sizes whose product overflows int64 are refused, not wrapped.
  ImageHeaderInfo huge{"tiff", 4294967295, 4294967295, 0, 0};
  EXPECT_EQ(CheckImagePixels(huge, 4096LL * 4096).code(), absl::StatusCode::kResourceExhausted);
  // Every sample PNG passes the server's default limit (no block).
  auto png =
      PeekImageSize(ReadFileToString(kModelDir + "/samples/0000_ankle_boot.png").value_or(""));
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->block_width, 0);
  EXPECT_TRUE(CheckImagePixels(*png, 4096LL * 4096).ok());
}

}  // namespace
}  // namespace theano_serving

namespace theano_serving {
namespace {

// Found by fuzz_image in CI: width 12060 first, then 1 again; OpenCV decodes with 12060 and a
// RowsPerStrip of 63260 (a 3 GB strip). A repeated size tag counts with its largest value.
TEST(PreprocessTest, TiffWithARepeatedSizeTagCountsItsLargestValue) {
  const std::string tiff = ReadFileToString(std::string(TS_SOURCE_DIR) +
                                            "/tests/fuzz/regressions/fuzz_image/"
                                            "tiff_repeats_width_tag_12060_then_1_allocates_3gb")
                               .value_or("");
  absl::StatusOr<ImageHeaderInfo> info = PeekImageSize(tiff);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->width, 12060);
  EXPECT_EQ(info->block_width, 12060);
  EXPECT_EQ(info->block_height, 63260);
  EXPECT_EQ(CheckImagePixels(*info, 4096LL * 4096).code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace theano_serving
