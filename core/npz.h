// Reading and writing numpy .npy arrays and .npz archives (zip files of .npy
// members, stored or deflated, as numpy.savez / numpy.savez_compressed write
// them). The zip layer is libzip. All functions are thread-safe.
#ifndef THEANO_SERVING_CORE_NPZ_H_
#define THEANO_SERVING_CORE_NPZ_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
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

// Reads a .npy file. NotFound if it does not exist.
absl::StatusOr<NpyArray> ReadNpyFile(const std::string& path);

// Reads every member of an .npz archive, in archive order. Members must end in
// ".npy". NotFound if the file does not exist; InvalidArgument for a damaged
// archive or member.
absl::StatusOr<std::vector<NpyArray>> ReadNpzFile(const std::string& path);

// Converts a float array (descr "<f4", ">f4", "<f8" or ">f8"; C order) to a
// Tensor<T>, with C++ float/double conversion. InvalidArgument naming `what`
// and the dtype for any other dtype or for Fortran order.
template <typename T>
absl::StatusOr<Tensor<T>> NpyToTensor(const NpyArray& array, absl::string_view what);

// Serialises a tensor as a .npy file (version 1.0, "<f4" or "<f8", C order).
template <typename T>
std::string SerializeNpy(const Tensor<T>& tensor);

// Writes an .npz archive with one "<name>.npy" member per entry; `compress`
// deflates members as numpy.savez_compressed does. Used by tests and tools. The
// members' bytes are written as given (normally SerializeNpy output). The file
// is replaced atomically (libzip writes a temporary file and renames it).
// InvalidArgument for an empty member list or name; an error status if the file
// cannot be written.
absl::Status WriteNpzFile(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& npy_members,
                          bool compress);

// Writes float32 arrays as an .npz archive that numpy.load and ReadNpzFile read back bit for bit:
// one stored (uncompressed, as numpy.savez) member "<name>.npy" per entry, in name order, each a
// .npy format 1.0 file with descr '<f4', fortran_order False and the tensor's shape (a 0-d tensor
// is written as shape ()), data 64-byte aligned as numpy aligns it. This is what LoadModel reads
// as params.npz. The file is replaced atomically. InvalidArgument for an empty map, an empty name
// or a name containing '/'; an error status if the file cannot be written.
absl::Status WriteNpzFile(const std::string& path,
                          const std::map<std::string, Tensor<float>>& arrays);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_NPZ_H_
