#include "core/thread_name.h"

#include <pthread.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace theano_serving {

void NameThisThread(absl::string_view name) {
  std::string full = absl::StrCat(kThreadNamePrefix, name);
  if (full.size() > 15) full.resize(15);  // Linux: 16 bytes with the terminating NUL.
#if defined(__linux__)
  pthread_setname_np(pthread_self(), full.c_str());
#endif
}

}  // namespace theano_serving
