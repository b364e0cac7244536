// DrainGate: counts the unary requests in flight and closes for new ones when the server drains.
//
// Why not just grpc::Server::Shutdown(deadline)? It waits for *every* open call, including
// grpc.health.v1 Watch streams that never end on their own, so a single watcher would hold every
// shutdown for the whole drain timeout. Instead the server closes this gate (new requests get
// UNAVAILABLE), waits until the requests already admitted have answered, and only then shuts gRPC
// down, cancelling whatever streams remain. Thread-safe.
#ifndef THEANO_SERVING_SERVER_DRAIN_GATE_H_
#define THEANO_SERVING_SERVER_DRAIN_GATE_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace theano_serving {

class DrainGate {
 public:
  // Admits a request (true) unless draining; every admitted request must call Exit() once.
  bool Enter() {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      ++refused_;
      return false;
    }
    ++in_flight_;
    ++admitted_;
    return true;
  }
  void Exit() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  bool draining() const {
    absl::MutexLock lock(&mu_);
    return draining_;
  }
  // Requests admitted since construction, and refused because the gate was closed. At exit the
  // server logs both with the count left in flight: "0 left" proves that every request a handler
  // admitted was answered before gRPC shut down.
  int64_t admitted() const {
    absl::MutexLock lock(&mu_);
    return admitted_;
  }
  int64_t refused() const {
    absl::MutexLock lock(&mu_);
    return refused_;
  }
  // Closes the gate and waits until no admitted request is left or `timeout` passes. Returns the
  // number still in flight (0 on a clean drain).
  int CloseAndWait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
    return in_flight_;
  }

 private:
  mutable absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t admitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_DRAIN_GATE_H_
