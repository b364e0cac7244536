// Prometheus metrics of the server (prometheus-cpp), served on GET /metrics of the metrics port.
// Names follow Prometheus conventions (base unit seconds, `_total` counters); docs/METRICS.md lists
// them. Thread-safe: prometheus-cpp metrics are atomic, and families are looked up under a mutex.
#ifndef THEANO_SERVING_SERVER_METRICS_H_
#define THEANO_SERVING_SERVER_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace theano_serving {

class Metrics {
 public:
  Metrics();

  // Serves GET /metrics on `bind_address` ("0.0.0.0:9090"; port 0 = any free port).
  // Unavailable if the port cannot be bound.
  absl::Status Listen(const std::string& bind_address);
  // The bound port, after Listen.
  int port() const;

  // One finished request of `api` ("classify", "v2_infer", ...): counted by model, version and
  // code, latency observed; a failed one is also counted by `reason` (a short token such as
  // "bad_image", "queue_full", "unknown_model").
  void RequestDone(const std::string& api, const std::string& model, const std::string& version,
                   absl::StatusCode code, const std::string& reason, absl::Duration latency);
  // Per-stage latencies of one request: "decode", "queue", "inference", "total".
  void Stage(const std::string& model, const std::string& stage, absl::Duration d);
  // One model run of `batch_size` images.
  void Batch(const std::string& model, const std::string& version, int batch_size);
  void Images(const std::string& model, const std::string& version, int n);
  void QueueDepth(const std::string& model, int images);
  void InFlight(const std::string& api, int delta);
  void ModelLoad(const std::string& model, const std::string& version, bool ok,
                 absl::Duration load_time);
  void ModelUnload(const std::string& model, const std::string& version);
  void ModelReady(const std::string& model, const std::string& version, bool ready);

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& request_errors_;
  prometheus::Family<prometheus::Histogram>& request_latency_;
  prometheus::Family<prometheus::Histogram>& stage_latency_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Counter>& images_;
  prometheus::Family<prometheus::Counter>& inferences_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Counter>& loads_;
  prometheus::Family<prometheus::Counter>& unloads_;
  prometheus::Family<prometheus::Histogram>& load_duration_;
  prometheus::Family<prometheus::Gauge>& model_ready_;
  prometheus::Family<prometheus::Histogram>& error_latency_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_METRICS_H_
