// Names the calling thread, so /proc/PID/task/*/comm, top -H, gdb and the soak test's thread
// accounting tell this program's threads from gRPC's and the metrics exposer's. Every thread the
// server and the engine start names itself with the "ts-" prefix.
#ifndef THEANO_SERVING_CORE_THREAD_NAME_H_
#define THEANO_SERVING_CORE_THREAD_NAME_H_

#include "absl/strings/string_view.h"

namespace theano_serving {

// The prefix of every thread name this program gives.
inline constexpr absl::string_view kThreadNamePrefix = "ts-";

// Sets the calling thread's name to kThreadNamePrefix + `name`, cut to the kernel's 15 bytes.
// Best effort: a platform without thread names keeps the inherited one.
void NameThisThread(absl::string_view name);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_THREAD_NAME_H_
