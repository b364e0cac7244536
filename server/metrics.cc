#include "server/metrics.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"

namespace theano_serving {
namespace {

// Sub-millisecond CNN stages up to multi-second overloads.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}
prometheus::Histogram::BucketBoundaries BatchBuckets() { return {1, 2, 4, 8, 16, 32, 64, 128}; }
prometheus::Histogram::BucketBoundaries LoadBuckets() {
  return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("theano_serving_requests_total")
                    .Help("Finished requests by API, model, version and gRPC status code")
                    .Register(*registry_)),
      request_errors_(prometheus::BuildCounter()
                          .Name("theano_serving_request_errors_total")
                          .Help("Failed requests by API, gRPC status code and reason")
                          .Register(*registry_)),
      request_latency_(prometheus::BuildHistogram()
                           .Name("theano_serving_request_duration_seconds")
                           .Help("Request latency from arrival to answer, by API and model")
                           .Register(*registry_)),
      stage_latency_(prometheus::BuildHistogram()
                         .Name("theano_serving_stage_duration_seconds")
                         .Help("Per-stage latency: decode (image decode + preprocessing), queue "
                               "(waiting for a batch), inference (model run), total")
                         .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("theano_serving_batch_size")
                      .Help("Images per model run (dynamic batching)")
                      .Register(*registry_)),
      images_(prometheus::BuildCounter()
                  .Name("theano_serving_images_total")
                  .Help("Images (tensor rows) classified, by model and version")
                  .Register(*registry_)),
      inferences_(prometheus::BuildCounter()
                      .Name("theano_serving_inferences_total")
                      .Help("Model runs (batches), by model and version")
                      .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("theano_serving_queue_images")
                       .Help("Images waiting in the batching queue, by model")
                       .Register(*registry_)),
      in_flight_(prometheus::BuildGauge()
                     .Name("theano_serving_inflight_requests")
                     .Help("Requests being processed, by API")
                     .Register(*registry_)),
      loads_(prometheus::BuildCounter()
                 .Name("theano_serving_model_loads_total")
                 .Help("Model version loads by result (success, failure)")
                 .Register(*registry_)),
      unloads_(prometheus::BuildCounter()
                   .Name("theano_serving_model_unloads_total")
                   .Help("Model versions unloaded")
                   .Register(*registry_)),
      load_duration_(prometheus::BuildHistogram()
                         .Name("theano_serving_model_load_duration_seconds")
                         .Help("Time to load, validate and warm up a model version")
                         .Register(*registry_)),
      model_ready_(prometheus::BuildGauge()
                       .Name("theano_serving_model_ready")
                       .Help("1 if the model version is READY")
                       .Register(*registry_)),
      error_latency_(prometheus::BuildHistogram()
                         .Name("theano_serving_request_error_duration_seconds")
                         .Help("Time from arrival to answer of failed requests, by API, gRPC "
                               "status code and reason (how fast overload is refused)")
                         .Register(*registry_)) {}

absl::Status Metrics::Listen(const std::string& bind_address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(bind_address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", bind_address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::RequestDone(const std::string& api, const std::string& model,
                          const std::string& version, absl::StatusCode code,
                          const std::string& reason, absl::Duration latency) {
  const std::string code_name = absl::StatusCodeToString(code);
  requests_.Add({{"api", api}, {"model", model}, {"version", version}, {"code", code_name}})
      .Increment();
  if (code != absl::StatusCode::kOk) {
    request_errors_.Add({{"api", api}, {"code", code_name}, {"reason", reason}}).Increment();
    error_latency_.Add({{"api", api}, {"code", code_name}, {"reason", reason}}, LatencyBuckets())
        .Observe(absl::ToDoubleSeconds(latency));
  }
  request_latency_.Add({{"api", api}, {"model", model}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::Stage(const std::string& model, const std::string& stage, absl::Duration d) {
  stage_latency_.Add({{"model", model}, {"stage", stage}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(d));
}

void Metrics::Batch(const std::string& model, const std::string& version, int batch_size) {
  batch_size_.Add({{"model", model}}, BatchBuckets()).Observe(batch_size);
  inferences_.Add({{"model", model}, {"version", version}}).Increment();
}

void Metrics::Images(const std::string& model, const std::string& version, int n) {
  images_.Add({{"model", model}, {"version", version}}).Increment(n);
}

void Metrics::QueueDepth(const std::string& model, int images) {
  queue_depth_.Add({{"model", model}}).Set(images);
}

void Metrics::InFlight(const std::string& api, int delta) {
  in_flight_.Add({{"api", api}}).Increment(delta);
}

void Metrics::ModelLoad(const std::string& model, const std::string& version, bool ok,
                        absl::Duration load_time) {
  loads_.Add({{"model", model}, {"result", ok ? "success" : "failure"}}).Increment();
  if (ok) {
    load_duration_.Add({{"model", model}}, LoadBuckets()).Observe(absl::ToDoubleSeconds(load_time));
  }
  ModelReady(model, version, ok);
}

void Metrics::ModelUnload(const std::string& model, const std::string& version) {
  unloads_.Add({{"model", model}}).Increment();
  ModelReady(model, version, false);
}

void Metrics::ModelReady(const std::string& model, const std::string& version, bool ready) {
  model_ready_.Add({{"model", model}, {"version", version}}).Set(ready ? 1 : 0);
}

}  // namespace theano_serving
