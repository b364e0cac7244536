#include "client/commands.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/file_util.h"
#include "core/npy.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/grpc_status.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace client {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::theano_serving::v1;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// "INVALID_ARGUMENT": how output names a failed RPC's code.
std::string CodeName(const grpc::Status& status) {
  return absl::StatusCodeToString(FromGrpcCode(status.error_code()));
}

// The one place a failed RPC becomes output: "error: CODE: message".
int ReportRpcError(const std::string& what, const grpc::Status& status) {
  std::cerr << "error: " << what << ": " << CodeName(status) << ": " << status.error_message()
            << "\n";
  return kExitError;
}

int ReportError(const absl::Status& status) {
  std::cerr << "error: " << status.message() << "\n";
  return kExitError;
}

void SetDeadline(const CommandContext& ctx, grpc::ClientContext* rpc) {
  if (ctx.timeout_ms > 0) {
    rpc->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ctx.timeout_ms));
  }
}

std::string ModelOrDefault(const CommandContext& ctx) {
  return ctx.model.empty() ? kDefaultModel : ctx.model;
}

// OIP v2 carries versions as text; "" = latest.
std::string VersionText(int64_t version) { return version > 0 ? absl::StrCat(version) : ""; }

bool IsImageName(const fs::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}) {
    if (ext == e) return true;
  }
  return false;
}

// Float values as little-endian bytes (the OIP v2 raw layout), independent of host order.
template <typename T>
std::string ToLittleEndian(const T* values, int64_t n) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  std::string out(static_cast<size_t>(n) * sizeof(T), '\0');
  for (int64_t i = 0; i < n; ++i) {
    Bits bits;
    std::memcpy(&bits, &values[i], sizeof(T));
    for (size_t b = 0; b < sizeof(T); ++b)
      out[static_cast<size_t>(i) * sizeof(T) + b] = static_cast<char>(bits >> (8 * b));
  }
  return out;
}

// One float of the OIP v2 raw layout (little-endian), independent of host order.
template <typename T>
T FromLittleEndian(const char* p) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits bits = 0;
  for (size_t b = 0; b < sizeof(T); ++b)
    bits |= static_cast<Bits>(static_cast<unsigned char>(p[b])) << (8 * b);
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// OIP v2 raw BYTES: each element is a 4-byte little-endian length followed by that many bytes.
absl::StatusOr<std::vector<std::string>> DecodeRawBytes(const std::string& raw) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) return absl::InvalidArgumentError("truncated raw BYTES tensor");
    uint32_t len = 0;
    for (int b = 0; b < 4; ++b) {
      len |= static_cast<uint32_t>(static_cast<unsigned char>(raw[pos + b])) << (8 * b);
    }
    pos += 4;
    if (raw.size() - pos < len) return absl::InvalidArgumentError("truncated raw BYTES tensor");
    out.push_back(raw.substr(pos, len));
    pos += len;
  }
  return out;
}

// One output tensor, decoded: numbers for numeric datatypes, strings for BYTES.
struct DecodedOutput {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<double> numbers;
  std::vector<std::string> strings;
};

absl::StatusOr<DecodedOutput> DecodeOutput(const inference::ModelInferResponse& response, int i) {
  const auto& tensor = response.outputs(i);
  DecodedOutput out{
      tensor.name(), tensor.datatype(), {tensor.shape().begin(), tensor.shape().end()}, {}, {}};
  const bool raw = i < response.raw_output_contents_size();
  const auto& contents = tensor.contents();
  if (tensor.datatype() == "FP32" || tensor.datatype() == "FP64") {
    const size_t size = tensor.datatype() == "FP32" ? 4 : 8;
    if (raw) {
      const std::string& bytes = response.raw_output_contents(i);
      if (bytes.size() % size != 0) {
        return absl::InvalidArgumentError(absl::StrCat("output ", tensor.name(), ": raw ",
                                                       tensor.datatype(), " size ", bytes.size(),
                                                       " is not a multiple of ", size));
      }
      for (size_t k = 0; k < bytes.size(); k += size) {
        out.numbers.push_back(size == 4 ? FromLittleEndian<float>(bytes.data() + k)
                                        : FromLittleEndian<double>(bytes.data() + k));
      }
    } else if (size == 4) {
      out.numbers.assign(contents.fp32_contents().begin(), contents.fp32_contents().end());
    } else {
      out.numbers.assign(contents.fp64_contents().begin(), contents.fp64_contents().end());
    }
  } else if (tensor.datatype() == "INT64" && !raw) {
    out.numbers.assign(contents.int64_contents().begin(), contents.int64_contents().end());
  } else if (tensor.datatype() == "BYTES") {
    if (raw) {
      absl::StatusOr<std::vector<std::string>> strings =
          DecodeRawBytes(response.raw_output_contents(i));
      if (!strings.ok()) return strings.status();
      out.strings = *std::move(strings);
    } else {
      out.strings.assign(contents.bytes_contents().begin(), contents.bytes_contents().end());
    }
  } else {
    return absl::UnimplementedError(absl::StrCat("output ", tensor.name(), ": datatype ",
                                                 tensor.datatype(), raw ? " (raw)" : "",
                                                 " is not supported by this client"));
  }
  return out;
}

v1::ClassifyRequest MakeClassifyRequest(const CommandContext& ctx, std::optional<int> top_k) {
  v1::ClassifyRequest request;
  request.set_model_name(ModelOrDefault(ctx));
  request.set_model_version(ctx.version);
  if (top_k.has_value()) request.set_top_k(*top_k);
  return request;
}

// One file for classify: the path as the user gave it (or as found in their folder) and its bytes.
struct ImageFile {
  std::string path;
  std::string bytes;
};

// classify's per-file results, in file order: text lines as they come (errors as
// "error: PATH: CODE: message" on stderr), or one JSON object at the end with --json.
class ClassifyOutput {
 public:
  explicit ClassifyOutput(bool json) : json_(json) {}

  void Classes(const std::string& path, const v1::Classifications& result) {
    if (json_) {
      nlohmann::json classes = nlohmann::json::array();
      for (const v1::Class& c : result.classes()) {
        classes.push_back({{"index", c.index()}, {"label", c.label()}, {"score", c.score()}});
      }
      results_.push_back({{"path", path}, {"id", result.id()}, {"classes", classes}});
      return;
    }
    std::cout << path << "\n";
    for (const v1::Class& c : result.classes()) {
      std::cout << absl::StrFormat("  %-14s %.6f  (class %d)\n", c.label(), c.score(), c.index());
    }
  }

  // `code` is the status code's name, e.g. "INVALID_ARGUMENT".
  void Error(const std::string& path, const std::string& code, const std::string& message) {
    ++failed_;
    std::cerr << "error: " << path << ": " << code << ": " << message << "\n";
    if (json_) {
      results_.push_back({{"path", path}, {"error", {{"code", code}, {"message", message}}}});
    }
  }

  void Model(const v1::ClassifyResponse& response) {
    model_name_ = response.model_name();
    model_version_ = response.model_version();
  }

  // Prints the JSON object (--json); the exit status: 1 if any file failed.
  int Finish() {
    if (json_) {
      const nlohmann::json out = {
          {"model_name", model_name_}, {"model_version", model_version_}, {"results", results_}};
      std::cout << out.dump(1) << "\n";
    }
    return failed_ > 0 ? kExitError : kExitOk;
  }

 private:
  const bool json_;
  nlohmann::json results_ = nlohmann::json::array();
  std::string model_name_;
  int64_t model_version_ = 0;
  int failed_ = 0;
};

// The image a failed Classify names: the server starts a message about one image with
// "images[i]: " (docs/API.md). Returns i and the rest of the message, or nullopt when the failure
// is the whole request's (unknown model, not ready, deadline, too many images, full queue).
std::optional<std::pair<size_t, std::string>> FailedImage(const grpc::Status& status) {
  const std::string text = status.error_message();  // A copy: gRPC returns it by value.
  absl::string_view message = text;
  if (!absl::ConsumePrefix(&message, "images[")) return std::nullopt;
  const size_t close = message.find("]: ");
  size_t index = 0;
  if (close == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, close), &index)) {
    return std::nullopt;
  }
  return std::make_pair(index, std::string(message.substr(close + 3)));
}

// Classifies files[begin, end) in one Classify RPC and hands every file's result to `output`.
// When the server refuses the request because of one image, that file gets the error under its
// path and the files before and after it are sent again (recursively, so each bad file costs at
// most two more RPCs and the good ones stay batched). A failure of the whole request is returned.
grpc::Status ClassifyFiles(const CommandContext& ctx, v1::ClassificationService::Stub* stub,
                           const v1::ClassifyRequest& prototype,
                           const std::vector<ImageFile>& files, size_t begin, size_t end,
                           ClassifyOutput* output) {
  if (begin >= end) return grpc::Status::OK;
  v1::ClassifyRequest request = prototype;
  for (size_t i = begin; i < end; ++i) {
    v1::Image* image = request.add_images();
    image->set_data(files[i].bytes);
    image->set_id(files[i].path);
  }
  v1::ClassifyResponse response;
  grpc::ClientContext context;
  SetDeadline(ctx, &context);
  const grpc::Status status = stub->Classify(&context, request, &response);
  if (status.ok()) {
    if (response.results_size() != static_cast<int>(end - begin)) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrCat(end - begin, " images sent, ", response.results_size(),
                                       " results received"));
    }
    output->Model(response);
    for (int r = 0; r < response.results_size(); ++r) {
      output->Classes(files[begin + static_cast<size_t>(r)].path, response.results(r));
    }
    return grpc::Status::OK;
  }
  const std::optional<std::pair<size_t, std::string>> failed = FailedImage(status);
  if (!failed.has_value() || failed->first >= end - begin) return status;
  const size_t bad = begin + failed->first;
  if (grpc::Status before = ClassifyFiles(ctx, stub, prototype, files, begin, bad, output);
      !before.ok()) {
    return before;
  }
  output->Error(files[bad].path, CodeName(status), failed->second);
  return ClassifyFiles(ctx, stub, prototype, files, bad + 1, end, output);
}

// Reads the v2 input's name, datatype (FP32, or FP64 for a float64 model) and shape.
absl::StatusOr<inference::ModelMetadataResponse> FetchV2Metadata(
    const CommandContext& ctx, inference::GRPCInferenceService::Stub* stub, grpc::Status* rpc) {
  inference::ModelMetadataRequest request;
  request.set_name(ModelOrDefault(ctx));
  request.set_version(VersionText(ctx.version));
  inference::ModelMetadataResponse metadata;
  grpc::ClientContext context;
  SetDeadline(ctx, &context);
  *rpc = stub->ModelMetadata(&context, request, &metadata);
  if (!rpc->ok()) return absl::UnknownError("ModelMetadata failed");
  if (metadata.inputs_size() != 1 ||
      (metadata.inputs(0).datatype() != "FP32" && metadata.inputs(0).datatype() != "FP64")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", request.name(), ": expected one FP32 or FP64 input, metadata lists ",
        metadata.inputs_size(), " input(s)",
        metadata.inputs_size() > 0 ? absl::StrCat(", the first ", metadata.inputs(0).datatype())
                                   : ""));
  }
  return metadata;
}

// A ModelInferRequest for one .npy file (float32 or float64): one input of the model's shape, or
// a batch of them; sent in the model's datatype.
absl::StatusOr<inference::ModelInferRequest> MakeInferRequest(
    const CommandContext& ctx, const inference::ModelMetadataResponse& metadata,
    const std::string& path, int classification, int64_t* batch) {
  absl::StatusOr<NpyArray> array = ReadNpyFile(path);
  if (!array.ok()) return array.status();
  absl::StatusOr<Tensor<double>> tensor = NpyToTensor<double>(*array, path);
  if (!tensor.ok()) return tensor.status();
  // The model's input shape without the batch dimension (metadata: [-1, ...]).
  const auto& meta_shape = metadata.inputs(0).shape();
  const std::vector<int64_t> item(meta_shape.begin() + (meta_shape.empty() ? 0 : 1),
                                  meta_shape.end());
  std::vector<int64_t> shape = tensor->shape();
  if (shape == item) shape.insert(shape.begin(), 1);
  if (shape.size() != item.size() + 1 || !std::equal(item.begin(), item.end(), shape.begin() + 1)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": shape ", ShapeToString(tensor->shape()),
                                                   " is neither the model's ", ShapeToString(item),
                                                   " nor a batch ", BatchShapeToString(item)));
  }
  *batch = shape[0];
  inference::ModelInferRequest request;
  request.set_model_name(ModelOrDefault(ctx));
  request.set_model_version(VersionText(ctx.version));
  request.set_id(path);
  auto* input = request.add_inputs();
  input->set_name(metadata.inputs(0).name());
  input->set_datatype(metadata.inputs(0).datatype());
  for (int64_t d : shape) input->add_shape(d);
  if (metadata.inputs(0).datatype() == "FP64") {
    request.add_raw_input_contents(ToLittleEndian(tensor->data(), tensor->size()));
  } else {
    const std::vector<float> values(tensor->data(), tensor->data() + tensor->size());
    request.add_raw_input_contents(ToLittleEndian(values.data(), tensor->size()));
  }
  if (classification > 0) {
    auto* output = request.add_outputs();
    output->set_name(metadata.outputs_size() > 0 ? metadata.outputs(0).name() : "output");
    (*output->mutable_parameters())["classification"].set_int64_param(classification);
  }
  return request;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CollectImagePaths(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    std::error_code error;
    const fs::file_status status = fs::status(path, error);
    if (error || !fs::exists(status)) return absl::NotFoundError(absl::StrCat(path, ": not found"));
    if (!fs::is_directory(status)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (const fs::directory_entry& entry : fs::directory_iterator(path, error)) {
      if (entry.is_regular_file() && IsImageName(entry.path())) {
        found.push_back(entry.path().string());
      }
    }
    if (error) return absl::NotFoundError(absl::StrCat(path, ": ", error.message()));
    if (found.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": no *.png/*.jpg/*.jpeg/*.bmp/*.tif/*.tiff/*.webp files"));
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

int RunClassify(const CommandContext& ctx, std::optional<int> top_k, int images_per_request,
                const std::vector<std::string>& paths) {
  if (paths.empty()) {
    std::cerr << "classify: give at least one image file or folder\n";
    return kExitUsage;
  }
  auto stub = v1::ClassificationService::NewStub(ctx.channel);
  const v1::ClassifyRequest prototype = MakeClassifyRequest(ctx, top_k);
  ClassifyOutput output(ctx.json);
  const size_t per_request = static_cast<size_t>(std::max(1, images_per_request));
  std::vector<ImageFile> batch;
  // Sends what is pending, so that results come out in file order.
  auto send = [&]() {
    const grpc::Status status =
        ClassifyFiles(ctx, stub.get(), prototype, batch, 0, batch.size(), &output);
    batch.clear();
    return status;
  };
  // A path that does not exist, a folder without images, a file that cannot be read or is empty:
  // reported here, under the path, and not sent.
  auto local_error = [&](const std::string& path, const absl::Status& status) {
    if (grpc::Status sent = send(); !sent.ok()) return sent;
    output.Error(path, absl::StatusCodeToString(status.code()),
                 std::string(absl::StripPrefix(status.message(), path + ": ")));
    return grpc::Status::OK;
  };
  // One pass over every file; a failure of a whole request ends it.
  auto classify_all = [&]() {
    for (const std::string& arg : paths) {
      absl::StatusOr<std::vector<std::string>> files = CollectImagePaths({arg});
      if (!files.ok()) {
        if (grpc::Status s = local_error(arg, files.status()); !s.ok()) return s;
        continue;
      }
      for (const std::string& path : *files) {
        absl::StatusOr<std::string> bytes = ReadFileToString(path);
        if (bytes.ok() && bytes->empty()) bytes = absl::InvalidArgumentError("the file is empty");
        grpc::Status s;
        if (!bytes.ok()) {
          s = local_error(path, bytes.status());
        } else {
          batch.push_back({path, *std::move(bytes)});
          if (batch.size() == per_request) s = send();
        }
        if (!s.ok()) return s;
      }
    }
    return send();
  };
  if (grpc::Status status = classify_all(); !status.ok()) {
    return ReportRpcError("Classify", status);
  }
  return output.Finish();
}

int RunInfer(const CommandContext& ctx, int classification, const std::vector<std::string>& paths) {
  if (paths.empty()) {
    std::cerr << "infer: give at least one .npy file\n";
    return kExitUsage;
  }
  auto stub = inference::GRPCInferenceService::NewStub(ctx.channel);
  grpc::Status rpc;
  absl::StatusOr<inference::ModelMetadataResponse> metadata =
      FetchV2Metadata(ctx, stub.get(), &rpc);
  if (!rpc.ok()) return ReportRpcError("ModelMetadata", rpc);
  if (!metadata.ok()) return ReportError(metadata.status());

  nlohmann::json results = nlohmann::json::array();
  for (const std::string& path : paths) {
    int64_t batch = 0;
    absl::StatusOr<inference::ModelInferRequest> request =
        MakeInferRequest(ctx, *metadata, path, classification, &batch);
    if (!request.ok()) return ReportError(request.status());
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    SetDeadline(ctx, &context);
    const grpc::Status status = stub->ModelInfer(&context, *request, &response);
    if (!status.ok()) return ReportRpcError("ModelInfer", status);

    std::vector<DecodedOutput> outputs;
    for (int i = 0; i < response.outputs_size(); ++i) {
      absl::StatusOr<DecodedOutput> output = DecodeOutput(response, i);
      if (!output.ok()) return ReportError(output.status());
      outputs.push_back(*std::move(output));
    }
    // Split every output by its first (batch) dimension, one entry per input row.
    for (int64_t b = 0; b < batch; ++b) {
      const std::string name = batch == 1 ? path : absl::StrCat(path, "[", b, "]");
      nlohmann::json entry = {{"input", name}};
      if (!ctx.json) std::cout << name << "\n";
      for (const DecodedOutput& out : outputs) {
        const size_t total = out.strings.empty() ? out.numbers.size() : out.strings.size();
        const size_t row = total / static_cast<size_t>(std::max<int64_t>(1, batch));
        const size_t from = static_cast<size_t>(b) * row;
        const std::string key = outputs.size() > 1        ? out.name
                                : out.datatype == "BYTES" ? "classification"
                                                          : "output";
        if (out.datatype == "BYTES") {
          std::vector<std::string> strings(out.strings.begin() + from,
                                           out.strings.begin() + from + row);
          if (ctx.json) {
            entry[key] = strings;
          } else {
            for (const std::string& s : strings) std::cout << "  " << s << "\n";
          }
        } else {
          std::vector<double> values(out.numbers.begin() + from, out.numbers.begin() + from + row);
          if (ctx.json) {
            entry[key] = values;
          } else {
            std::cout << "  " << out.name << " " << out.datatype << ":";
            for (double v : values) std::cout << absl::StrFormat(" %.6g", v);
            std::cout << "\n";
          }
        }
      }
      results.push_back(entry);
    }
  }
  if (ctx.json) std::cout << results.dump(1) << "\n";
  return kExitOk;
}

int RunHealth(const CommandContext& ctx) {
  auto stub = grpc::health::v1::Health::NewStub(ctx.channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(ctx.model);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  SetDeadline(ctx, &context);
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportRpcError("Health/Check", status);
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (ctx.json) {
    std::cout << nlohmann::json({{"service", ctx.model}, {"status", name}}).dump() << "\n";
  } else {
    std::cout << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk : kExitError;
}

int RunModels(const CommandContext& ctx) {
  auto stub = v1::ClassificationService::NewStub(ctx.channel);
  v1::ListModelsResponse response;
  grpc::ClientContext context;
  SetDeadline(ctx, &context);
  const grpc::Status status = stub->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) return ReportRpcError("ListModels", status);
  if (ctx.json) {
    nlohmann::json models = nlohmann::json::array();
    for (const v1::ModelVersionStatus& m : response.models()) {
      models.push_back({{"name", m.name()},
                        {"version", m.version()},
                        {"state", v1::ModelVersionStatus::State_Name(m.state())},
                        {"reason", m.reason()}});
    }
    std::cout << models.dump(1) << "\n";
    return kExitOk;
  }
  size_t width = 4;
  for (const v1::ModelVersionStatus& m : response.models())
    width = std::max(width, m.name().size());
  std::cout << absl::StrFormat("%-*s %7s  %-9s  %s\n", width, "NAME", "VERSION", "STATE", "REASON");
  for (const v1::ModelVersionStatus& m : response.models()) {
    std::cout << absl::StrFormat("%-*s %7d  %-9s  %s\n", width, m.name(), m.version(),
                                 v1::ModelVersionStatus::State_Name(m.state()), m.reason());
  }
  return kExitOk;
}

int RunBenchCommand(const CommandContext& ctx, const BenchCommandOptions& options,
                    const std::vector<std::string>& paths) {
  if (paths.empty()) {
    std::cerr << "bench: give image files/folders (--api classify) or .npy files (--api v2)\n";
    return kExitUsage;
  }
  BenchOptions bench = options.bench;
  if (bench.duration_s <= 0 && bench.requests <= 0) bench.duration_s = 10;

  std::function<grpc::Status(int64_t)> send;
  std::shared_ptr<v1::ClassificationService::Stub> classify_stub;
  std::shared_ptr<inference::GRPCInferenceService::Stub> v2_stub;
  auto classify_requests = std::make_shared<std::vector<v1::ClassifyRequest>>();
  auto v2_requests = std::make_shared<std::vector<inference::ModelInferRequest>>();

  if (options.api == "classify") {
    absl::StatusOr<std::vector<std::string>> images = CollectImagePaths(paths);
    if (!images.ok()) return ReportError(images.status());
    std::vector<std::string> bytes;
    for (const std::string& path : *images) {
      absl::StatusOr<std::string> data = ReadFileToString(path);
      if (!data.ok()) return ReportError(data.status());
      bytes.push_back(*std::move(data));
    }
    // ceil(n / B) requests that together cover every image once (the last wraps around).
    const size_t per_request = static_cast<size_t>(std::max(1.0, bench.images_per_request));
    bench.images_per_request = static_cast<double>(per_request);
    const size_t count = (bytes.size() + per_request - 1) / per_request;
    for (size_t r = 0; r < count; ++r) {
      v1::ClassifyRequest request = MakeClassifyRequest(ctx, options.top_k);
      for (size_t k = 0; k < per_request; ++k) {
        const size_t i = (r * per_request + k) % bytes.size();
        v1::Image* image = request.add_images();
        image->set_data(bytes[i]);
        image->set_id((*images)[i]);
      }
      classify_requests->push_back(std::move(request));
    }
    classify_stub = v1::ClassificationService::NewStub(ctx.channel);
    send = [&ctx, classify_stub, classify_requests](int64_t i) {
      const auto& request =
          (*classify_requests)[static_cast<size_t>(i) % classify_requests->size()];
      v1::ClassifyResponse response;
      grpc::ClientContext context;
      SetDeadline(ctx, &context);
      return classify_stub->Classify(&context, request, &response);
    };
  } else if (options.api == "v2") {
    v2_stub = inference::GRPCInferenceService::NewStub(ctx.channel);
    grpc::Status rpc;
    absl::StatusOr<inference::ModelMetadataResponse> metadata =
        FetchV2Metadata(ctx, v2_stub.get(), &rpc);
    if (!rpc.ok()) return ReportRpcError("ModelMetadata", rpc);
    if (!metadata.ok()) return ReportError(metadata.status());
    int64_t images = 0;
    for (const std::string& path : paths) {
      int64_t batch = 0;
      absl::StatusOr<inference::ModelInferRequest> request =
          MakeInferRequest(ctx, *metadata, path, /*classification=*/0, &batch);
      if (!request.ok()) return ReportError(request.status());
      images += batch;
      v2_requests->push_back(*std::move(request));
    }
    bench.images_per_request = static_cast<double>(images) / static_cast<double>(paths.size());
    send = [&ctx, v2_stub, v2_requests](int64_t i) {
      const auto& request = (*v2_requests)[static_cast<size_t>(i) % v2_requests->size()];
      inference::ModelInferResponse response;
      grpc::ClientContext context;
      SetDeadline(ctx, &context);
      return v2_stub->ModelInfer(&context, request, &response);
    };
  } else {
    std::cerr << "bench: --api must be classify or v2, got \"" << options.api << "\"\n";
    return kExitUsage;
  }

  if (!ctx.json) {
    std::cout << absl::StrFormat(
        "bench %s: model %s, target %s, concurrency %d, %s%s, %.4g images/request\n", options.api,
        ModelOrDefault(ctx), ctx.target, bench.concurrency,
        bench.requests > 0 ? absl::StrCat(bench.requests, " requests")
                           : absl::StrCat(bench.duration_s, " s"),
        bench.rate > 0 ? absl::StrCat(", open loop at ", bench.rate, " req/s") : ", closed loop",
        bench.images_per_request);
  }
  // Connect before the clock starts, so the first requests do not carry the handshake.
  ctx.channel->WaitForConnected(std::chrono::system_clock::now() +
                                std::chrono::milliseconds(std::max<int64_t>(ctx.timeout_ms, 1000)));
  const BenchResult result = RunBench(bench, send);
  if (ctx.json) {
    std::cout << BenchResultToJson(result).dump() << "\n";
  } else {
    std::cout << BenchResultToText(result);
  }
  if (result.ok != result.requests && !options.allow_errors) return kExitError;
  return kExitOk;
}

}  // namespace client
}  // namespace theano_serving
