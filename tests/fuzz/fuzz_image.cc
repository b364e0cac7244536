// Fuzz target: image header sniffing and decode + preprocessing (core/preprocess.h), the way the
// server's request path uses them (server/inference_runner.cc): PeekImageSize on any bytes, and
// DecodeImageInto only for an image whose header passed the pixel limit. Two input specs: the
// embedded grayscale model (fashion_lenet: 1x28x28, scale 1/255) and a colour BGR model with mean
// and std and another resize mode, so both decode paths and the channel reordering run.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/preprocess.h"
#include "nlohmann/json.hpp"

namespace {

using theano_serving::InputSpec;

// Far below the server's default --max_image_pixels (4096 * 4096) so that each input decodes in
// milliseconds; the limit logic itself is the same.
constexpr int64_t kMaxPixels = 1024 * 1024;

InputSpec SpecOrDie(const char* json) {
  auto spec = theano_serving::ParseInputSpec(nlohmann::json::parse(json));
  if (!spec.ok()) std::abort();
  return *spec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const InputSpec kGray =
      SpecOrDie(R"({"shape": [1, 28, 28], "grayscale": true, "scale": 0.00392156862745098})");
  static const InputSpec kColour = SpecOrDie(
      R"({"shape": [3, 20, 24], "grayscale": false, "channel_order": "BGR", "scale": 0.00392156862745098,
          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resize": "area"})");
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = theano_serving::PeekImageSize(bytes);
  if (!header.ok()) return 0;
  if (header->width <= 0 || header->height <= 0) std::abort();  // contract: a usable size
  // The server's check (overflow-safe: regressions/fuzz_image/tiff_claims_4294967295x4294967295;
  // TIFF strips: regressions/fuzz_image/tiff_12060x28_rowsperstrip_63260_allocates_3gb).
  if (!theano_serving::CheckImagePixels(*header, kMaxPixels).ok()) return 0;
  std::vector<float> out(static_cast<size_t>(3 * 28 * 28));
  (void)theano_serving::DecodeImageInto(bytes, kGray, out.data());
  (void)theano_serving::DecodeImageInto(bytes, kColour, out.data());
  return 0;
}
