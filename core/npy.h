// Reading and writing numpy .npy arrays (format versions 1.0, 2.0 and 3.0). No zip, no engine:
// the CLI links this (theano_serving_base) alone; .npz archives are core/npz.h. All functions are
// thread-safe.
#ifndef THEANO_SERVING_CORE_NPY_H_
#define THEANO_SERVING_CORE_NPY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace theano_serving {

// One array as stored: numpy's dtype descriptor and the raw little/big-endian
// element bytes.
struct NpyArray {
  std::string name;   // For npz members: the member name without ".npy" ("W0"); else "".
  std::string descr;  // numpy dtype descr as written: "<f4", "<f8", "|u1", ">i4", ...
  bool fortran_order = false;
  Shape shape;
  std::string data;  // NumElements(shape) * element size bytes, in file order.
};

// Parses the bytes of one .npy file (format versions 1.0, 2.0 and 3.0). `what`
// names the source in error messages (a path or "params.npz member W0").
// Errors: InvalidArgument for a bad magic, header, shape, or a data size that
// does not match the header (truncated file).
absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes, absl::string_view what);

// Reads a .npy file. NotFound if it does not exist (ReadFileToString's errors).
absl::StatusOr<NpyArray> ReadNpyFile(const std::string& path);

// Converts a float array (descr "<f4", ">f4", "<f8" or ">f8"; C order) to a
// Tensor<T>, with C++ float/double conversion. InvalidArgument naming `what`
// and the dtype for any other dtype or for Fortran order.
template <typename T>
absl::StatusOr<Tensor<T>> NpyToTensor(const NpyArray& array, absl::string_view what);

// Serialises a tensor as a .npy file (version 1.0, "<f4" or "<f8", C order).
template <typename T>
std::string SerializeNpy(const Tensor<T>& tensor);

// `s` in double quotes, '"' and '\' escaped and other non-printable bytes as \xNN: how .npy and
// .npz error messages show text read from a file (header text, dtypes, member names).
std::string QuoteForMessage(absl::string_view s);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_NPY_H_
