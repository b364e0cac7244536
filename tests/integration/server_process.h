// Test harness for the integration tests: runs the real `theano-serving` (and other binaries) as
// child processes on 127.0.0.1, with bounded waits, and always kills what it started.
//
// Every child is spawned with posix_spawn (no fork handlers run in this multi-threaded gRPC
// process) through `setpriv --pdeathsig KILL` when available, so a test binary killed by ctest's
// TIMEOUT does not leave servers behind. Destructors SIGKILL and reap anything still running.
#ifndef THEANO_SERVING_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define THEANO_SERVING_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace theano_serving {
namespace testing_util {

// The source tree and the binaries under test (build/bin), fixed at compile time by CMake.
std::string SourceDir();
std::string BinDir();

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Replaces the file's contents (files are read with ReadFileToString, core/file_util.h).
absl::Status WriteFile(const std::string& path, const std::string& contents);

// One child process. Its stdout and stderr go to files (readable while it runs). Not thread-safe.
class ChildProcess {
 public:
  // Starts argv[0] (an absolute path) with argv. Error if the binary cannot be executed.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& stdout_path,
                                                             const std::string& stderr_path);
  // SIGKILLs and reaps the process if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Error if the process has already been reaped.
  absl::Status SendSignal(int sig);
  // Waits up to `timeout` for the process to end; its waitpid() status, or nullopt on timeout.
  // Once it has returned a status, later calls return the same status at once.
  std::optional<int> WaitExit(absl::Duration timeout);
  // True while the process has not ended (reaps it if it has).
  bool Running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string stdout_path_, stderr_path_;
};

// "exited with status 0", "killed by signal 9", for assertion messages.
std::string DescribeWaitStatus(std::optional<int> status);
// True iff the status says the process called exit(0).
bool ExitedCleanly(std::optional<int> status);

// Runs a command to completion (at most `timeout`); its exit status and combined output.
struct CommandResult {
  std::optional<int> status;
  std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(30));

struct ServerOptions {
  // --model_repository; empty = the source tree's models/ (the embedded fashion_lenet).
  std::string model_repository;
  // More flags, e.g. "--poll_interval_s=0.2".
  std::vector<std::string> extra_args;
  // Plaintext (--insecure). When false, extra_args must carry --tls_cert/--tls_key and
  // `credentials` must be able to connect (it is used for the readiness check).
  bool insecure = true;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Channel arguments for the readiness check and channel(), e.g. ssl_target_name_override.
  std::map<std::string, std::string> channel_args;
  // Bound for the port file to appear and Health/Check("") to say SERVING.
  absl::Duration startup_timeout = absl::Seconds(20);
};

// A running `theano-serving --host=127.0.0.1 --grpc_port=0 --metrics_port=0 --port_file=...`.
class ServerProcess {
 public:
  // Starts the server and waits until it has written its port file and answers
  // Health/Check("") == SERVING. On error (timeout, early exit) the message includes the server's
  // stderr; the process is already killed.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(const ServerOptions& options = {});
  // Prints the server's stderr if the current test failed, then SIGKILLs it if still running.
  ~ServerProcess();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string grpc_address() const;  // "127.0.0.1:<grpc_port>"
  // A new channel to the server (with ServerOptions::credentials and channel_args).
  std::shared_ptr<grpc::Channel> NewChannel() const;
  // One channel shared by the calls of a test.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  absl::Status SendSignal(int sig) { return process_->SendSignal(sig); }
  std::optional<int> WaitExit(absl::Duration timeout) { return process_->WaitExit(timeout); }
  std::string Stderr() const { return process_->Stderr(); }
  // Waits (polling) until the server's stderr contains `text`.
  bool WaitForStderr(const std::string& text, absl::Duration timeout) const;

  // GET http://127.0.0.1:<metrics_port>/metrics, the body.
  absl::StatusOr<std::string> Metrics() const;

 private:
  ServerProcess() = default;
  ServerOptions options_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ChildProcess> process_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// HTTP/1.0 GET of http://127.0.0.1:<port><path>: the body of a 200 response; an error naming
// the status line otherwise. Bounded by `timeout` (connect + read).
absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    absl::Duration timeout = absl::Seconds(5));

// A TCP port that was free a moment ago on 127.0.0.1 (for programs that cannot report the port
// they bound, such as Prometheus).
absl::StatusOr<int> PickFreePort();

// One sample of the Prometheus text format.
struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::vector<MetricSample> ParsePrometheusText(const std::string& text);
// The sum of the samples named `name` whose labels include every pair of `labels`.
double SumMetric(const std::vector<MetricSample>& samples, const std::string& name,
                 const std::map<std::string, std::string>& labels);

// Polls `condition` every 20 ms until it returns true or `timeout` passes; its last answer.
template <typename F>
bool WaitFor(absl::Duration timeout, F condition) {
  const absl::Time end = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= end) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace testing_util
}  // namespace theano_serving

#endif  // THEANO_SERVING_TESTS_INTEGRATION_SERVER_PROCESS_H_
