// Reading and writing numpy .npz archives (zip files of .npy members, stored or deflated, as
// numpy.savez / numpy.savez_compressed write them). The zip layer is libzip; the members are
// parsed by core/npy.h, which this header includes. All functions are thread-safe.
#ifndef THEANO_SERVING_CORE_NPZ_H_
#define THEANO_SERVING_CORE_NPZ_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/npy.h"
#include "core/tensor.h"

namespace theano_serving {

// Reads every member of an .npz archive, in archive order. Members must end in
// ".npy". NotFound if the file does not exist; InvalidArgument for a damaged
// archive or member.
absl::StatusOr<std::vector<NpyArray>> ReadNpzFile(const std::string& path);

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
