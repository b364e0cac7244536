#include "server/classification_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"
#include "server/rpc_util.h"

namespace theano_serving {
namespace {

constexpr int kDefaultTopK = 5;

v1::ModelVersionStatus::State ToProto(ModelState s) {
  switch (s) {
    case ModelState::kLoading:
      return v1::ModelVersionStatus::LOADING;
    case ModelState::kReady:
      return v1::ModelVersionStatus::READY;
    case ModelState::kUnloading:
      return v1::ModelVersionStatus::UNLOADING;
    case ModelState::kFailed:
      return v1::ModelVersionStatus::FAILED;
  }
  return v1::ModelVersionStatus::UNKNOWN;
}

}  // namespace

ClassificationServiceImpl::ClassificationServiceImpl(InferenceRunner* runner,
                                                     ModelRepository* repository, Metrics* metrics,
                                                     DrainGate* gate)
    : runner_(runner), repository_(repository), metrics_(metrics), gate_(gate) {}

grpc::ServerUnaryReactor* ClassificationServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                              const v1::ClassifyRequest* request,
                                                              v1::ClassifyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  RequestInfo info = MakeRequestInfo("classify", context);
  const std::string model = request->model_name();
  std::optional<FinishRequest> admitted = AdmitRequest(reactor, info, model, metrics_, gate_);
  if (!admitted) return reactor;
  FinishRequest finish = *std::move(admitted);

  auto servable = runner_->Resolve(model, request->model_version());
  if (!servable.ok()) {
    finish(servable.status(), "", ResolveErrorReason(servable.status()));
    return reactor;
  }
  const Model& m = (*servable)->model();
  if (!m.input().images || !m.outputs_scores()) {
    finish(
        absl::FailedPreconditionError(absl::StrCat(
            "model ", m.name(), " takes ",
            m.input().images ? "images"
                             : absl::StrCat("tensors of shape ", ShapeToString(m.input().shape())),
            " and outputs ", BatchShapeToString(m.output_shape()),
            ": Classify needs encoded images in and one score per class out; use the OIP v2 "
            "ModelInfer with FP32/FP64 tensors")),
        "", "not_a_classifier");
    return reactor;
  }
  const int64_t classes = m.num_outputs();
  int64_t top_k = std::min<int64_t>(kDefaultTopK, classes);
  if (request->has_top_k()) {
    top_k = request->top_k();
    if (top_k < 1 || top_k > classes) {
      finish(absl::InvalidArgumentError(absl::StrCat("top_k must be in [1, ", classes,
                                                     "] (the model's class count), got ", top_k)),
             "", "top_k");
      return reactor;
    }
  }
  std::vector<absl::string_view> images;
  images.reserve(static_cast<size_t>(request->images_size()));
  for (const v1::Image& image : request->images()) images.push_back(image.data());

  const std::string version = absl::StrCat((*servable)->version());
  response->set_model_name(model);
  response->set_model_version((*servable)->version());
  runner_->RunImages(*servable, std::move(images), info,
                     [finish, request, response, top_k, version, s = *servable](
                         absl::StatusOr<AnyTensor> any, std::string reason) {
                       if (!any.ok()) {
                         finish(any.status(), version, reason);
                         return;
                       }
                       // Scores are float32 on the wire (float64 models' are rounded).
                       const Tensor<float> out = ConvertTo<float>(*std::move(any));
                       const int64_t k = out.dim(1);
                       for (int64_t i = 0; i < out.dim(0); ++i) {
                         v1::Classifications* result = response->add_results();
                         result->set_id(request->images(static_cast<int>(i)).id());
                         for (const Prediction& p : s->model().TopK(out.data() + i * k, top_k)) {
                           v1::Class* c = result->add_classes();
                           c->set_index(p.index);
                           c->set_label(p.label);
                           c->set_score(p.score);
                         }
                       }
                       finish(absl::OkStatus(), version, "");
                     });
  return reactor;
}

grpc::ServerUnaryReactor* ClassificationServiceImpl::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* /*request*/,
    v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  for (const ModelVersionStatus& s : repository_->List()) {
    v1::ModelVersionStatus* m = response->add_models();
    m->set_name(s.name);
    m->set_version(s.version);
    m->set_state(ToProto(s.state));
    m->set_reason(s.reason);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void FillModelMetadata(const Servable& servable, const ModelRepository& repository,
                       v1::ModelMetadata* out) {
  const Model& model = servable.model();
  out->set_name(servable.name());
  out->set_version(servable.version());
  for (const ModelVersionStatus& s : repository.List()) {
    if (s.name == servable.name() && s.state == ModelState::kReady) out->add_versions(s.version);
  }
  const InputSpec& in = model.input();
  v1::InputSpec* spec = out->mutable_input();
  spec->set_name(in.name);
  for (int64_t d : in.shape()) spec->add_shape(d);
  spec->set_grayscale(in.grayscale);
  spec->set_channel_order(in.channel_order);
  spec->set_scale(in.scale);
  for (int c = 0; c < in.channels; ++c) {
    spec->add_mean(in.mean.empty() ? 0.0f : in.mean[static_cast<size_t>(c)]);
    spec->add_std(in.std.empty() ? 1.0f : in.std[static_cast<size_t>(c)]);
  }
  spec->set_resize(in.resize);
  spec->set_images(in.images);
  spec->set_image_layout(in.image_layout);
  spec->set_dtype(DTypeName(model.dtype()));
  for (const std::string& c : model.classes()) out->add_classes(c);
  out->set_num_outputs(model.num_outputs());
  for (int64_t d : model.output_shape()) out->add_output_shape(d);
  out->set_num_params(model.NumParams());
  out->set_flops_per_image(model.FlopsPerImage());
  for (const LayerSummary& l : model.layers()) {
    v1::Layer* layer = out->add_layers();
    layer->set_description(l.description);
    layer->set_op(l.op);
    for (int64_t d : l.output_shape) layer->add_output_shape(d);
    layer->set_num_params(l.num_params);
    layer->set_flops(l.flops);
  }
}

grpc::ServerUnaryReactor* ClassificationServiceImpl::GetModelMetadata(
    grpc::CallbackServerContext* context, const v1::GetModelMetadataRequest* request,
    v1::ModelMetadata* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto servable = runner_->Resolve(request->name(), request->version());
  if (servable.ok()) FillModelMetadata(**servable, *repository_, response);
  reactor->Finish(ToGrpcStatus(servable.status()));
  return reactor;
}

}  // namespace theano_serving
