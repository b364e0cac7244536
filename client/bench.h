// A closed- or open-loop load generator (in the spirit of ghz and perf_analyzer), independent of
// which RPC it drives: the caller supplies a function that sends request number i and returns its
// gRPC status.
#ifndef THEANO_SERVING_CLIENT_BENCH_H_
#define THEANO_SERVING_CLIENT_BENCH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "grpcpp/support/status.h"
#include "nlohmann/json.hpp"

namespace theano_serving {
namespace client {

struct BenchOptions {
  int concurrency = 1;    // Worker threads, each with at most one request in flight.
  double duration_s = 0;  // Stop issuing after this many seconds (0 = no time bound).
  int64_t requests = 0;   // Stop after this many requests (0 = no count bound).
  double rate = 0;        // Open loop: target requests/s over all workers (0 = closed loop).
  double images_per_request = 1;  // Average images per request; only for images_per_s.
};

// What one run measured.
struct BenchResult {
  int64_t requests = 0;  // Requests completed (ok + failed).
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;  // gRPC status code name → count.
  double elapsed_s = 0;                   // First send to last completion.
  std::vector<double> latencies_ms;       // Of the successful requests, sorted ascending.
  double images_per_request = 1;

  double ThroughputRps() const;  // ok / elapsed_s.
  double ImagesPerS() const;     // ThroughputRps() * images_per_request.
  // Nearest-rank percentile of the successful requests' latencies, q in [0, 100]; 0 when none.
  double PercentileMs(double q) const;
};

// Sends request i for i = 0, 1, 2, ... from `options.concurrency` threads until the duration or
// request bound is hit (at least one bound must be set; the caller checks). `send` is called
// concurrently and must be thread-safe. In open-loop mode (rate > 0) request i is due at
// start + i / rate and its latency is measured from that due time, so a server (or client) that
// falls behind shows up as latency instead of silently lowering the offered load (coordinated
// omission, as wrk2 measures it). In closed-loop mode latency is measured from the send.
BenchResult RunBench(const BenchOptions& options, const std::function<grpc::Status(int64_t)>& send);

// {"requests", "ok", "errors": {code: count}, "throughput_rps", "images_per_s", "p50_ms",
//  "p90_ms", "p99_ms", "max_ms", "elapsed_s"}.
nlohmann::json BenchResultToJson(const BenchResult& result);

// A few human-readable lines.
std::string BenchResultToText(const BenchResult& result);

}  // namespace client
}  // namespace theano_serving

#endif  // THEANO_SERVING_CLIENT_BENCH_H_
