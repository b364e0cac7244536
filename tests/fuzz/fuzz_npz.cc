// Fuzz target: a whole params.npz archive (core/npz.h ReadNpzFile, libzip underneath), written to
// an anonymous memory file (memfd) and read back through /proc/self/fd, as LoadModel reads it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz_npz", 0);
  if (fd < 0) std::abort();
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  auto arrays = theano_serving::ReadNpzFile(path);
  if (!arrays.ok()) return 0;
  for (const auto& a : *arrays) (void)theano_serving::NpyToTensor<float>(a, a.name);
  return 0;
}
