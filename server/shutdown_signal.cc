#include "server/shutdown_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace theano_serving {
namespace {

int signal_pipe[2] = {-1, -1};

extern "C" void OnShutdownSignal(int sig) {
  const int saved_errno = errno;  // a handler must leave errno as it found it
  const char c = static_cast<char>(sig);
  // write() is async-signal-safe; if the pipe is full, signals are already pending anyway.
  [[maybe_unused]] const ssize_t n = write(signal_pipe[1], &c, 1);
  errno = saved_errno;
}

}  // namespace

absl::Status ShutdownSignal::Install() {
  if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnShutdownSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT}) {
    if (sigaction(sig, &action, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("sigaction(", sig, "): ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

int ShutdownSignal::Wait() {
  char c = 0;
  while (true) {
    const ssize_t n = read(signal_pipe[0], &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    if (n < 0 && errno == EINTR) continue;
    return SIGTERM;  // the pipe failed: treat it as a request to stop rather than hang
  }
}

}  // namespace theano_serving
