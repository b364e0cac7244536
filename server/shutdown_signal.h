// ShutdownSignal: SIGTERM / SIGINT handed to one waiting thread, whichever thread the kernel
// delivers them to.
//
// Why not block the signals in main() and sigwait()? A signal sent to a process goes to any of its
// threads that does not block it, and libraries start threads before main() runs: OpenBLAS (which
// OpenCV loads through libblas/liblapack) starts its pool from a library constructor, with no
// signal blocked. When the kernel picks such a thread, SIGTERM's default action kills the process
// at once, without draining. A handler runs on whatever thread takes the signal: it writes the
// signal number to a pipe, and Wait() reads it.
#ifndef THEANO_SERVING_SERVER_SHUTDOWN_SIGNAL_H_
#define THEANO_SERVING_SERVER_SHUTDOWN_SIGNAL_H_

#include "absl/status/status.h"

namespace theano_serving {

class ShutdownSignal {
 public:
  // Installs handlers for SIGTERM and SIGINT (SA_RESTART). Call once per process; Internal error
  // if the pipe or sigaction fails (errno text in the message).
  static absl::Status Install();
  // Blocks until SIGTERM or SIGINT has arrived (returns at once for one that arrived earlier) and
  // returns its number. Requires Install(). Thread-safe; each signal wakes one Wait().
  static int Wait();
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_SHUTDOWN_SIGNAL_H_
