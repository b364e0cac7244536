// The subcommands of theano-serving-cli. Each prints its answer to stdout, errors to stderr, and
// returns the process exit status: 0 success, 1 an RPC or data error, 2 a usage error.
#ifndef THEANO_SERVING_CLIENT_COMMANDS_H_
#define THEANO_SERVING_CLIENT_COMMANDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/bench.h"
#include "grpcpp/channel.h"

namespace theano_serving {
namespace client {

// What every subcommand needs from the global flags.
struct CommandContext {
  std::shared_ptr<grpc::Channel> channel;
  std::string target;      // For messages.
  int64_t timeout_ms = 0;  // Per-RPC deadline; <= 0 = none.
  bool json = false;       // Machine-readable output.
  std::string model;       // --model ("" = the command's default).
  int64_t version = 0;     // --version (0 = latest ready).
};

// The model used when --model is not given (the embedded default model).
inline constexpr char kDefaultModel[] = "fashion_lenet";

// Expands PATHs: a file is taken as given; a directory contributes its *.png, *.jpg, *.jpeg, *.bmp,
// *.tif, *.tiff and *.webp entries (case-insensitive, not recursive), sorted by name. NotFound for
// a path that does not exist; InvalidArgument for a directory with no images.
absl::StatusOr<std::vector<std::string>> CollectImagePaths(const std::vector<std::string>& paths);

// classify: Classify RPCs of `images_per_request` images each; prints, per file, the path and
// "  label  score  (class i)" lines best first, or one JSON object with --json. Results are per
// file: a file that cannot be read or that the server refuses (undecodable, too many pixels) gets
// "error: PATH: CODE: message" on stderr (with --json also {"path", "error": {code, message}}) and
// the other files are still classified; exit status 1 if any file failed. A failure of the whole
// request (unknown model, server unavailable, deadline) ends the command with one error line.
int RunClassify(const CommandContext& ctx, std::optional<int> top_k, int images_per_request,
                const std::vector<std::string>& paths);

// infer: one OIP v2 ModelInfer per .npy file ((C,H,W) gets a batch dimension; (N,C,H,W) as is),
// FP32 raw_input_contents; the input tensor name comes from ModelMetadata. `classification` > 0
// asks for the top-K "score:index:label" BYTES output instead of the raw scores.
int RunInfer(const CommandContext& ctx, int classification, const std::vector<std::string>& paths);

// health: grpc.health.v1.Health/Check for service "" or --model; prints the status name; 0 only
// if SERVING.
int RunHealth(const CommandContext& ctx);

// models: ListModels as a table (or JSON).
int RunModels(const CommandContext& ctx);

struct BenchCommandOptions {
  BenchOptions bench;
  std::string api = "classify";  // "classify" or "v2".
  std::optional<int> top_k;
  bool allow_errors = false;
};

// bench: RunBench over pre-built requests (classify: images from PATHs, images_per_request per
// request, cycling; v2: one request per .npy file, cycling). Exit 1 if any request failed unless
// allow_errors.
int RunBenchCommand(const CommandContext& ctx, const BenchCommandOptions& options,
                    const std::vector<std::string>& paths);

}  // namespace client
}  // namespace theano_serving

#endif  // THEANO_SERVING_CLIENT_COMMANDS_H_
