#include "client/bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/grpc_status.h"

namespace theano_serving {
namespace client {
namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

double BenchResult::ThroughputRps() const { return elapsed_s > 0 ? ok / elapsed_s : 0; }

double BenchResult::ImagesPerS() const { return ThroughputRps() * images_per_request; }

double BenchResult::PercentileMs(double q) const {
  if (latencies_ms.empty()) return 0;
  // Nearest rank: the smallest value with at least q% of the values at or below it.
  const double rank = std::ceil(q / 100.0 * static_cast<double>(latencies_ms.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return latencies_ms[std::min(index, latencies_ms.size() - 1)];
}

BenchResult RunBench(const BenchOptions& options,
                     const std::function<grpc::Status(int64_t)>& send) {
  const int workers = std::max(1, options.concurrency);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      options.duration_s > 0 ? start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(options.duration_s))
                             : Clock::time_point::max();
  std::atomic<int64_t> next{0};

  struct WorkerResult {
    std::vector<double> latencies_ms;
    std::map<std::string, int64_t> errors;
    int64_t requests = 0;
    Clock::time_point last_done;
  };
  std::vector<WorkerResult> per_worker(static_cast<size_t>(workers));

  auto work = [&](WorkerResult* out) {
    out->last_done = start;
    for (;;) {
      const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (options.requests > 0 && i >= options.requests) break;
      Clock::time_point due = Clock::now();
      if (options.rate > 0) {
        due = start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(i) / options.rate));
        if (due >= deadline) break;
        std::this_thread::sleep_until(due);
      }
      // Closed loop: nothing starts after the deadline. Open loop: a request due before the
      // deadline is still sent, even if this worker woke late.
      if (options.rate <= 0 && Clock::now() >= deadline) break;
      const grpc::Status status = send(i);
      const Clock::time_point done = Clock::now();
      ++out->requests;
      out->last_done = std::max(out->last_done, done);
      if (status.ok()) {
        out->latencies_ms.push_back(MsBetween(due, done));
      } else {
        ++out->errors[absl::StatusCodeToString(FromGrpcCode(status.error_code()))];
      }
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(per_worker.size());
  for (WorkerResult& w : per_worker) threads.emplace_back(work, &w);
  for (std::thread& t : threads) t.join();

  BenchResult result;
  result.images_per_request = options.images_per_request;
  Clock::time_point end = start;
  for (WorkerResult& w : per_worker) {
    result.requests += w.requests;
    result.ok += static_cast<int64_t>(w.latencies_ms.size());
    for (const auto& [code, count] : w.errors) result.errors[code] += count;
    result.latencies_ms.insert(result.latencies_ms.end(), w.latencies_ms.begin(),
                               w.latencies_ms.end());
    end = std::max(end, w.last_done);
  }
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  result.elapsed_s = std::chrono::duration<double>(end - start).count();
  return result;
}

nlohmann::json BenchResultToJson(const BenchResult& result) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : result.errors) errors[code] = count;
  return {
      {"requests", result.requests},
      {"ok", result.ok},
      {"errors", errors},
      {"throughput_rps", result.ThroughputRps()},
      {"images_per_s", result.ImagesPerS()},
      {"p50_ms", result.PercentileMs(50)},
      {"p90_ms", result.PercentileMs(90)},
      {"p99_ms", result.PercentileMs(99)},
      {"max_ms", result.PercentileMs(100)},
      {"elapsed_s", result.elapsed_s},
  };
}

std::string BenchResultToText(const BenchResult& result) {
  std::string text = absl::StrFormat(
      "requests    %d (ok %d, failed %d) in %.3f s\n"
      "throughput  %.1f req/s, %.1f images/s\n"
      "latency ms  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
      result.requests, result.ok, result.requests - result.ok, result.elapsed_s,
      result.ThroughputRps(), result.ImagesPerS(), result.PercentileMs(50), result.PercentileMs(90),
      result.PercentileMs(99), result.PercentileMs(100));
  for (const auto& [code, count] : result.errors) {
    absl::StrAppend(&text, absl::StrFormat("errors      %s %d\n", code, count));
  }
  return text;
}

}  // namespace client
}  // namespace theano_serving
