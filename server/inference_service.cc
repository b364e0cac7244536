#include "server/inference_service.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "server/classification_service.h"
#include "server/grpc_status.h"
#include "server/rpc_util.h"

namespace theano_serving {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

// OIP versions are decimal strings; "" = latest.
absl::StatusOr<int64_t> ParseVersion(const std::string& field, const std::string& text) {
  if (text.empty()) return 0;
  int64_t v;
  if (!absl::SimpleAtoi(text, &v) || v < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a positive integer or empty, got \"", text, "\""));
  }
  return v;
}

// What the request asks back: the raw tensor, or top-k classification strings.
struct OutputRequest {
  int64_t classification = 0;  // 0 = the FP32 tensor
};

absl::StatusOr<OutputRequest> ParseOutputs(const ModelInferRequest& request, const Model& model) {
  const int64_t classes = model.num_outputs();
  OutputRequest out;
  for (int i = 0; i < request.outputs_size(); ++i) {
    const auto& o = request.outputs(i);
    if (o.name() != InferenceServiceImpl::kOutputName) {
      return absl::InvalidArgumentError(absl::StrCat("outputs[", i, "].name \"", o.name(),
                                                     "\" is unknown; the model has one output \"",
                                                     InferenceServiceImpl::kOutputName, "\""));
    }
    auto it = o.parameters().find("classification");
    if (it == o.parameters().end()) continue;
    if (it->second.parameter_choice_case() != inference::InferParameter::kInt64Param) {
      return absl::InvalidArgumentError(
          absl::StrCat("outputs[", i, "].parameters[\"classification\"] must be an int64_param"));
    }
    if (!model.outputs_scores()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outputs[", i, "].parameters[\"classification\"]: model ", model.name(), " outputs ",
          BatchShapeToString(model.output_shape()),
          ", not one score per class; ask for the tensor (no classification parameter)"));
    }
    const int64_t k = it->second.int64_param();
    if (k < 1 || k > classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("outputs[", i, "].parameters[\"classification\"] must be in [1, ", classes,
                       "] (the model's class count), got ", k));
    }
    out.classification = k;
  }
  return out;
}

// A tensor of `shape` holding `values` (the request's own dtype: FP32 -> float, FP64 -> double);
// InvalidArgument naming the field and the element for a non-finite value.
template <typename T>
absl::StatusOr<AnyTensor> TensorFromValues(const T* values, Shape shape, const std::string& field) {
  Tensor<T> out(std::move(shape));
  for (int64_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "] is ", values[i], "; inputs must be finite"));
    }
    out.data()[i] = values[i];
  }
  return AnyTensor(std::move(out));
}

// Splits a raw BYTES tensor: each element is a 4-byte little-endian length and the bytes.
absl::StatusOr<std::vector<absl::string_view>> SplitRawBytes(const std::string& raw,
                                                             int64_t expected) {
  std::vector<absl::string_view> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) {
      return absl::InvalidArgumentError(
          "raw_input_contents[0]: truncated BYTES element length prefix");
    }
    uint32_t len;
    std::memcpy(&len, raw.data() + pos, 4);  // little-endian hosts only (x86-64, aarch64)
    pos += 4;
    if (raw.size() - pos < len) {
      return absl::InvalidArgumentError(
          absl::StrCat("raw_input_contents[0]: BYTES element ", out.size(), " claims ", len,
                       " bytes but only ", raw.size() - pos, " remain"));
    }
    out.emplace_back(raw.data() + pos, len);
    pos += len;
  }
  if (static_cast<int64_t>(out.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents[0] holds ", out.size(),
                                                   " BYTES elements, shape says ", expected));
  }
  return out;
}

// Decides what the request's one input is: encoded images (BYTES) or a tensor (FP32/FP64).
struct ParsedInput {
  std::vector<absl::string_view> images;  // BYTES
  AnyTensor tensor;                       // FP32 / FP64, in the request's dtype
  bool is_images = false;
};

// Checks everything about the one input against the model and the contents actually sent before
// any buffer is sized from the request's shape. The request limits (N) are the runner's.
absl::StatusOr<ParsedInput> ParseInput(const ModelInferRequest& request, const Model& model) {
  const InputSpec& spec = model.input();
  if (request.inputs_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("inputs: the model takes exactly 1 input (\"",
                                                   spec.name, "\"), got ", request.inputs_size()));
  }
  const auto& in = request.inputs(0);
  if (in.name() != spec.name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].name \"", in.name(), "\" is unknown; the model's input is \"", spec.name, "\""));
  }
  const bool has_raw = request.raw_input_contents_size() > 0;
  const auto& c = in.contents();
  const bool has_typed = c.fp32_contents_size() || c.fp64_contents_size() ||
                         c.bytes_contents_size() || c.int_contents_size() ||
                         c.int64_contents_size() || c.uint_contents_size() ||
                         c.uint64_contents_size() || c.bool_contents_size();
  if (has_raw && has_typed) {
    return absl::InvalidArgumentError(
        "inputs[0]: both contents and raw_input_contents are set; send one");
  }
  if (has_raw && request.raw_input_contents_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents has ", request.raw_input_contents_size(), " entries for 1 input"));
  }
  std::string shape_text = "[";
  int64_t count = 1;
  for (int i = 0; i < in.shape_size(); ++i) {
    absl::StrAppend(&shape_text, i ? ", " : "", in.shape(i));
    if (in.shape(i) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("inputs[0].shape has a negative dimension"));
    }
    // No message can carry more than 2^31 bytes, so a larger element count is a lie; stop before
    // the product overflows.
    if (in.shape(i) > 0 && count > (int64_t{1} << 31) / in.shape(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[0].shape ", absl::StrJoin(in.shape(), ", "),
                       " has more elements than a request can carry"));
    }
    count *= in.shape(i);
  }
  shape_text += "]";

  ParsedInput parsed;
  if (in.datatype() == "BYTES" && !spec.images) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].datatype is BYTES (encoded images), but model ", model.name(),
        " takes tensors only: send FP32 or FP64 of shape [N, ",
        ShapeToString(spec.shape()).substr(1, ShapeToString(spec.shape()).size() - 2), "]"));
  }
  if (in.datatype() == "BYTES") {
    if (!(in.shape_size() == 1 || (in.shape_size() == 2 && in.shape(1) == 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inputs[0].shape must be [N] or [N, 1] for BYTES (encoded images), got ", shape_text));
    }
    parsed.is_images = true;
    if (has_raw) {
      auto split = SplitRawBytes(request.raw_input_contents(0), in.shape(0));
      if (!split.ok()) return split.status();
      parsed.images = *std::move(split);
    } else {
      if (c.bytes_contents_size() != in.shape(0)) {
        return absl::InvalidArgumentError(absl::StrCat("inputs[0].contents.bytes_contents has ",
                                                       c.bytes_contents_size(), " elements, shape ",
                                                       shape_text, " says ", in.shape(0)));
      }
      for (const std::string& b : c.bytes_contents()) parsed.images.emplace_back(b);
    }
    return parsed;
  }
  if (in.datatype() != "FP32" && in.datatype() != "FP64") {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].datatype must be FP32, FP64 (tensor) or BYTES (encoded images), got \"",
        in.datatype(), "\""));
  }
  const Shape want = spec.shape();
  const bool shape_ok = in.shape_size() == static_cast<int>(want.size()) + 1 &&
                        std::equal(want.begin(), want.end(), in.shape().begin() + 1);
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].shape must be [N, ", absl::StrJoin(want, ", "), "], got ", shape_text));
  }
  const Shape shape(in.shape().begin(), in.shape().end());
  const bool fp64 = in.datatype() == "FP64";
  const int64_t elem = fp64 ? 8 : 4;
  if (has_raw) {
    const std::string& raw = request.raw_input_contents(0);
    if (static_cast<int64_t>(raw.size()) != count * elem) {
      return absl::InvalidArgumentError(absl::StrCat("raw_input_contents[0] has ", raw.size(),
                                                     " bytes; ", in.datatype(), " shape ",
                                                     shape_text, " needs ", count * elem));
    }
    // Little-endian, row-major, as the protocol specifies (and as the host is).
    if (fp64) {
      std::vector<double> v(static_cast<size_t>(count));
      std::memcpy(v.data(), raw.data(), raw.size());
      ASSIGN_OR_RETURN(parsed.tensor, TensorFromValues(v.data(), shape, "raw_input_contents[0]"));
    } else {
      std::vector<float> v(static_cast<size_t>(count));
      std::memcpy(v.data(), raw.data(), raw.size());
      ASSIGN_OR_RETURN(parsed.tensor, TensorFromValues(v.data(), shape, "raw_input_contents[0]"));
    }
    return parsed;
  }
  const int64_t got = fp64 ? c.fp64_contents_size() : c.fp32_contents_size();
  const int64_t other = fp64 ? c.fp32_contents_size() : c.fp64_contents_size();
  if (got != count || other != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs[0].contents.", fp64 ? "fp64_contents" : "fp32_contents", " has ", got,
        " values; shape ", shape_text, " needs ", count,
        other ? absl::StrCat(" (and ", other, " values of the other float type were sent)") : ""));
  }
  if (fp64) {
    ASSIGN_OR_RETURN(parsed.tensor, TensorFromValues(c.fp64_contents().data(), shape,
                                                     "inputs[0].contents.fp64_contents"));
  } else {
    ASSIGN_OR_RETURN(parsed.tensor, TensorFromValues(c.fp32_contents().data(), shape,
                                                     "inputs[0].contents.fp32_contents"));
  }
  return parsed;
}

// The output tensor in the model's dtype (FP32 or FP64), or top-k classification strings.
void FillOutput(const AnyTensor& any, const OutputRequest& want, const Model& model, bool raw,
                ModelInferResponse* response) {
  auto* o = response->add_outputs();
  o->set_name(InferenceServiceImpl::kOutputName);
  const Shape& shape = ShapeOf(any);
  if (want.classification == 0) {
    o->set_datatype(model.dtype() == DType::kFloat64 ? "FP64" : "FP32");
    for (int64_t d : shape) o->add_shape(d);
    std::visit(
        [&](const auto& out) {
          using T = std::remove_cv_t<std::remove_reference_t<decltype(*out.data())>>;
          if (raw) {
            response->add_raw_output_contents()->assign(
                reinterpret_cast<const char*>(out.data()),
                sizeof(T) * static_cast<size_t>(out.size()));
          } else if constexpr (std::is_same_v<T, double>) {
            o->mutable_contents()->mutable_fp64_contents()->Add(out.data(),
                                                                out.data() + out.size());
          } else {
            o->mutable_contents()->mutable_fp32_contents()->Add(out.data(),
                                                                out.data() + out.size());
          }
        },
        any);
    return;
  }
  // Scores are compared and printed as float32 (a float64 model's are rounded).
  const Tensor<float> out = ConvertTo<float>(any);
  const int64_t n = shape[0], k = shape[1];
  o->set_datatype("BYTES");
  o->add_shape(n);
  o->add_shape(want.classification);
  std::string* raw_out = raw ? response->add_raw_output_contents() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    for (const Prediction& p : model.TopK(out.data() + i * k, want.classification)) {
      std::string s = absl::StrFormat("%.9g:%d:%s", p.score, p.index, p.label);
      if (raw_out != nullptr) {
        const uint32_t len = static_cast<uint32_t>(s.size());
        raw_out->append(reinterpret_cast<const char*>(&len), 4);
        raw_out->append(s);
      } else {
        o->mutable_contents()->add_bytes_contents(std::move(s));
      }
    }
  }
}

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(InferenceRunner* runner, ModelRepository* repository,
                                           Metrics* metrics, DrainGate* gate,
                                           std::string server_version)
    : runner_(runner),
      repository_(repository),
      metrics_(metrics),
      gate_(gate),
      server_version_(std::move(server_version)) {}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* r) {
  r->set_live(true);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerReady(grpc::CallbackServerContext* context,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* r) {
  bool any_ready = false;
  for (const ModelVersionStatus& s : repository_->List())
    any_ready |= s.state == ModelState::kReady;
  r->set_ready(!gate_->draining() && any_ready);
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelReady(grpc::CallbackServerContext* context,
                                                           const inference::ModelReadyRequest* req,
                                                           inference::ModelReadyResponse* r) {
  auto* reactor = context->DefaultReactor();
  auto version = ParseVersion("version", req->version());
  if (!version.ok()) {
    reactor->Finish(ToGrpcStatus(version.status()));
    return reactor;
  }
  r->set_ready(!gate_->draining() && repository_->Get(req->name(), *version).ok());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* r) {
  r->set_name("theano-serving");
  r->set_version(server_version_);
  r->add_extensions("classification");
  r->add_extensions("model_repository");
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* req,
    inference::ModelMetadataResponse* r) {
  auto* reactor = context->DefaultReactor();
  absl::Status status = [&]() -> absl::Status {
    auto version = ParseVersion("version", req->version());
    if (!version.ok()) return version.status();
    auto servable = runner_->Resolve(req->name(), *version);
    if (!servable.ok()) return servable.status();
    const Model& model = (*servable)->model();
    r->set_name((*servable)->name());
    for (const ModelVersionStatus& s : repository_->List()) {
      if (s.name == r->name() && s.state == ModelState::kReady) {
        r->add_versions(absl::StrCat(s.version));
      }
    }
    r->set_platform("theano");
    const char* datatype = model.dtype() == DType::kFloat64 ? "FP64" : "FP32";
    auto* in = r->add_inputs();
    in->set_name(model.input().name);
    in->set_datatype(datatype);
    in->add_shape(-1);
    for (int64_t d : model.input().shape()) in->add_shape(d);
    auto* out = r->add_outputs();
    out->set_name(kOutputName);
    out->set_datatype(datatype);
    out->add_shape(-1);
    for (int64_t d : model.output_shape()) out->add_shape(d);
    return absl::OkStatus();
  }();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfer(grpc::CallbackServerContext* context,
                                                           const ModelInferRequest* request,
                                                           ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RequestInfo info = MakeRequestInfo("v2_infer", context);
  const std::string model_name = request->model_name();
  std::optional<FinishRequest> admitted = AdmitRequest(reactor, info, model_name, metrics_, gate_);
  if (!admitted) return reactor;
  FinishRequest finish = *std::move(admitted);
  auto version = ParseVersion("model_version", request->model_version());
  if (!version.ok()) {
    finish(version.status(), "", "bad_request");
    return reactor;
  }
  auto servable = runner_->Resolve(model_name, *version);
  if (!servable.ok()) {
    finish(servable.status(), "", ResolveErrorReason(servable.status()));
    return reactor;
  }
  const Model& model = (*servable)->model();
  const std::string v = absl::StrCat((*servable)->version());
  auto outputs = ParseOutputs(*request, model);
  if (!outputs.ok()) {
    finish(outputs.status(), v, "bad_output");
    return reactor;
  }
  auto input = ParseInput(*request, model);
  if (!input.ok()) {
    finish(input.status(), v, "bad_tensor");
    return reactor;
  }
  info.batch_field = "inputs[0].shape[0]";
  response->set_model_name(model_name);
  response->set_model_version(v);
  response->set_id(request->id());
  const bool raw = request->raw_input_contents_size() > 0;
  auto done = [finish, response, want = *outputs, raw, v, s = *servable](
                  absl::StatusOr<AnyTensor> out, std::string reason) {
    if (!out.ok()) {
      finish(out.status(), v, reason);
      return;
    }
    FillOutput(*out, want, s->model(), raw, response);
    finish(absl::OkStatus(), v, "");
  };
  if (input->is_images) {
    runner_->RunImages(*servable, std::move(input->images), info, std::move(done));
  } else {
    runner_->RunTensor(*servable, std::move(input->tensor), info, std::move(done));
  }
  return reactor;
}

}  // namespace theano_serving
