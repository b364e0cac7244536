// Fuzz target: one .npy file's bytes (core/npy.h ParseNpy), then the float conversions the model
// loader applies (NpyToTensor<float>, NpyToTensor<double>) for arrays of a sane size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto array = theano_serving::ParseNpy(bytes, "fuzz.npy");
  if (!array.ok()) return 0;
  // ParseNpy promises that the data matches the header; the conversions rely on it.
  if (array->data.size() > size) std::abort();
  (void)theano_serving::NpyToTensor<float>(*array, "fuzz.npy");
  (void)theano_serving::NpyToTensor<double>(*array, "fuzz.npy");
  return 0;
}
