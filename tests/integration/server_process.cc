#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"

extern char** environ;

namespace theano_serving {
namespace testing_util {
namespace {

namespace fs = std::filesystem;

constexpr char kSetpriv[] = "/usr/bin/setpriv";

std::string ErrnoText(const std::string& what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

// The last `max_bytes` of `text`, for diagnostics.
std::string Tail(const std::string& text, size_t max_bytes = 4000) {
  if (text.size() <= max_bytes) return text;
  return "..." + text.substr(text.size() - max_bytes);
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string SourceDir() { return TS_SOURCE_DIR; }
std::string BinDir() { return TS_BIN_DIR; }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/ts-integration-XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << ErrnoText("mkdtemp " + pattern);
    return;
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& stdout_path,
    const std::string& stderr_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(ErrnoText(absl::StrCat("cannot execute ", argv[0])));
  }
  // setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the program in the same process, so the
  // child dies with this test process even when it is SIGKILLed by ctest.
  std::vector<std::string> full;
  if (access(kSetpriv, X_OK) == 0) full = {kSetpriv, "--pdeathsig", "KILL", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (std::string& a : full) args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (stderr_path == stdout_path) {
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  }
  // The child starts with default signal dispositions and an empty mask, whatever this process
  // (gRPC, gtest) changed.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": ", std::strerror(rc)));
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->pid_ = pid;
  child->stdout_path_ = stdout_path;
  child->stderr_path_ = stderr_path;
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_.has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

absl::Status ChildProcess::SendSignal(int sig) {
  if (status_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " already ", DescribeWaitStatus(status_)));
  }
  if (kill(pid_, sig) != 0) return absl::InternalError(ErrnoText("kill"));
  return absl::OkStatus();
}

std::optional<int> ChildProcess::WaitExit(absl::Duration timeout) {
  if (status_.has_value()) return status_;
  WaitFor(timeout, [this] {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_.has_value();
  });
  return status_;
}

bool ChildProcess::Running() { return !WaitExit(absl::ZeroDuration()).has_value(); }

std::string ChildProcess::Stdout() const { return ReadFileToString(stdout_path_).value_or(""); }
std::string ChildProcess::Stderr() const { return ReadFileToString(stderr_path_).value_or(""); }

std::string DescribeWaitStatus(std::optional<int> status) {
  if (!status.has_value()) return "still running";
  if (WIFEXITED(*status)) return absl::StrCat("exited with status ", WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return absl::StrCat("killed by signal ", WTERMSIG(*status));
  return absl::StrCat("wait status ", *status);
}

bool ExitedCleanly(std::optional<int> status) {
  return status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

CommandResult RunCommand(const std::vector<std::string>& argv, absl::Duration timeout) {
  CommandResult result;
  TempDir dir;
  const std::string log = dir.File("output");
  auto child = ChildProcess::Start(argv, log, log);
  if (!child.ok()) {
    result.output = std::string(child.status().message());
    return result;
  }
  result.status = (*child)->WaitExit(timeout);
  result.output = (*child)->Stdout();
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(const ServerOptions& options) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->options_ = options;
  server->dir_ = std::make_unique<TempDir>();
  const std::string port_file = server->dir_->File("ports.json");
  std::vector<std::string> argv = {BinDir() + "/theano-serving", "--host=127.0.0.1",
                                   "--grpc_port=0", "--metrics_port=0", "--port_file=" + port_file};
  if (options.insecure) argv.push_back("--insecure");
  // Explicit even for the embedded models/, so the tests do not depend on where the build tree
  // is (the server's default is found relative to its executable).
  argv.push_back("--model_repository=" + (options.model_repository.empty()
                                              ? SourceDir() + "/models"
                                              : options.model_repository));
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  auto process =
      ChildProcess::Start(argv, server->dir_->File("stdout.log"), server->dir_->File("stderr.log"));
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);

  const absl::Time deadline = absl::Now() + options.startup_timeout;
  const auto fail = [&](const std::string& why) {
    server->process_.reset();  // SIGKILL
    return absl::DeadlineExceededError(
        absl::StrCat(why, "\ncommand: ", absl::StrJoin(argv, " "), "\nserver stderr:\n",
                     Tail(ReadFileToString(server->dir_->File("stderr.log")).value_or("(none)"))));
  };

  // 1. The port file (written atomically by rename once both ports listen).
  bool exited = false;
  const bool have_ports = WaitFor(deadline - absl::Now(), [&] {
    if (!server->process_->Running()) {
      exited = true;
      return true;
    }
    auto text = ReadFileToString(port_file);
    if (!text.ok()) return false;
    auto json = ParseJson(*text, port_file);
    if (!json.ok() || !json->contains("grpc") || !json->contains("metrics")) return false;
    server->grpc_port_ = (*json)["grpc"].get<int>();
    server->metrics_port_ = (*json)["metrics"].get<int>();
    return true;
  });
  if (exited) {
    return fail(absl::StrCat("theano-serving ",
                             DescribeWaitStatus(server->process_->WaitExit(absl::ZeroDuration())),
                             " before writing its port file"));
  }
  if (!have_ports || server->grpc_port_ <= 0 || server->metrics_port_ <= 0) {
    return fail(absl::StrCat("no valid port file ", port_file, " within ",
                             absl::FormatDuration(options.startup_timeout)));
  }

  // 2. Health/Check("") == SERVING.
  server->channel_ = server->NewChannel();
  auto health = grpc::health::v1::Health::NewStub(server->channel_);
  grpc::Status last;
  const bool serving = WaitFor(deadline - absl::Now(), [&] {
    if (!server->process_->Running()) return true;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    last = health->Check(&context, request, &response);
    return last.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  });
  if (!server->process_->Running()) {
    return fail(absl::StrCat("theano-serving ",
                             DescribeWaitStatus(server->process_->WaitExit(absl::ZeroDuration())),
                             " during startup"));
  }
  if (!serving) {
    return fail(absl::StrCat("Health/Check(\"\") not SERVING within ",
                             absl::FormatDuration(options.startup_timeout),
                             "; last RPC status: ", last.error_code(), " ", last.error_message()));
  }
  return server;
}

ServerProcess::~ServerProcess() {
  if (process_ != nullptr && ::testing::Test::HasFailure()) {
    std::cerr << "---- theano-serving stderr (pid " << process_->pid() << ", "
              << DescribeWaitStatus(process_->WaitExit(absl::ZeroDuration())) << ") ----\n"
              << Tail(process_->Stderr()) << "\n---- end of server stderr ----" << std::endl;
  }
  process_.reset();  // SIGKILL if still running
}

std::string ServerProcess::grpc_address() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  for (const auto& [key, value] : options_.channel_args) args.SetString(key, value);
  // A channel per call site: tests must not share subchannels with each other by accident.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(
      grpc_address(),
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials(),
      args);
}

bool ServerProcess::WaitForStderr(const std::string& text, absl::Duration timeout) const {
  return WaitFor(timeout, [&] { return absl::StrContains(process_->Stderr(), text); });
}

absl::StatusOr<std::string> ServerProcess::Metrics() const {
  return HttpGet(metrics_port_, "/metrics");
}

namespace {

// Decodes a chunked HTTP/1.1 body (servers should not send one to an HTTP/1.0 client, but cheap
// to handle).
absl::StatusOr<std::string> Dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) return absl::DataLossError("truncated chunked body");
    size_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(body.substr(pos, eol - pos)), &size)) {
      return absl::DataLossError("bad chunk size");
    }
    if (size == 0) return out;
    if (eol + 2 + size > body.size()) return absl::DataLossError("truncated chunk");
    out.append(body, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
}

}  // namespace

absl::StatusOr<std::string> HttpGet(int port, const std::string& path, absl::Duration timeout) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(ErrnoText("socket"));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout));
  tv.tv_usec = static_cast<suseconds_t>(absl::ToInt64Microseconds(timeout) % 1000000);
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(ErrnoText(absl::StrCat("connect 127.0.0.1:", port)));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1:", port, "\r\n\r\n");
  if (send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return absl::UnavailableError(ErrnoText("send"));
  }
  std::string response;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[16384];
  while (true) {
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DeadlineExceededError(ErrnoText(absl::StrCat("recv from port ", port)));
    }
    response.append(buf, static_cast<size_t>(n));
    if (absl::Now() > deadline) return absl::DeadlineExceededError("HTTP response too slow");
  }
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::DataLossError(absl::StrCat("no HTTP header in: ", Tail(response, 200)));
  }
  const std::string headers = response.substr(0, header_end);
  std::string body = response.substr(header_end + 4);
  const std::string status_line = headers.substr(0, headers.find("\r\n"));
  const std::vector<std::string> parts = absl::StrSplit(status_line, ' ');
  if (parts.size() < 2 || parts[1] != "200") {
    return absl::UnavailableError(
        absl::StrCat("GET ", path, " on port ", port, ": ", status_line, "; ", Tail(body, 300)));
  }
  for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, "transfer-encoding:") &&
        absl::StrContains(absl::AsciiStrToLower(line), "chunked")) {
      return Dechunk(body);
    }
  }
  return body;
}

absl::StatusOr<int> PickFreePort() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(ErrnoText("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::InternalError(ErrnoText("bind"));
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(ErrnoText("getsockname"));
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

std::vector<MetricSample> ParsePrometheusText(const std::string& text) {
  std::vector<MetricSample> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    MetricSample sample;
    size_t pos = line.find_first_of("{ ");
    if (pos == absl::string_view::npos) continue;
    sample.name = std::string(line.substr(0, pos));
    if (line[pos] == '{') {
      ++pos;
      // key="value" pairs; values escape \\, \" and \n.
      while (pos < line.size() && line[pos] != '}') {
        const size_t eq = line.find('=', pos);
        if (eq == absl::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key(absl::StripAsciiWhitespace(line.substr(pos, eq - pos)));
        std::string value;
        size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        sample.labels[key] = value;
        pos = i + 1;
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      pos = line.find('}', pos);
      if (pos == absl::string_view::npos) continue;
      ++pos;
    }
    const std::vector<absl::string_view> rest =
        absl::StrSplit(absl::StripAsciiWhitespace(line.substr(pos)), ' ', absl::SkipEmpty());
    if (rest.empty()) continue;
    sample.value = std::strtod(std::string(rest[0]).c_str(), nullptr);
    out.push_back(std::move(sample));
  }
  return out;
}

double SumMetric(const std::vector<MetricSample>& samples, const std::string& name,
                 const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const MetricSample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        match = false;
        break;
      }
    }
    if (match) sum += s.value;
  }
  return sum;
}

}  // namespace testing_util
}  // namespace theano_serving
