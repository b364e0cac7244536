// InferenceRunner: the request path shared by every API — resolve the model version, enforce every
// request limit (RequestLimits), decode images on the decode pool (never on gRPC's threads), split
// into batches of at most the model's max_batch_size, queue them on the model's batcher, and
// gather the output rows. The API adaptors only translate their protocol into RunImages /
// RunTensor calls. No gRPC here: callers convert the absl::Status with ToGrpcStatus. Thread-safe.
#ifndef THEANO_SERVING_SERVER_INFERENCE_RUNNER_H_
#define THEANO_SERVING_SERVER_INFERENCE_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "server/thread_pool.h"

namespace theano_serving {

// Every limit is checked by the runner before any decode or queueing; a request over one is
// refused with RESOURCE_EXHAUSTED.
struct RequestLimits {
  // N of a request: encoded images, or the first dimension of a tensor.
  int max_images_per_request = 64;
  int64_t max_image_pixels = 4096LL * 4096;  // width * height read from the header, before decode.
};

// What a caller knows about one request.
struct RequestInfo {
  std::string api;  // "classify", "v2_infer": for metrics.
  absl::Time start = absl::Now();
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;  // May be empty.
  // The request field that holds N, as the too-many-images error names it: "images" (Classify),
  // "inputs[0].shape[0]" (OIP v2).
  std::string batch_field = "images";
};

class InferenceRunner {
 public:
  // Called exactly once, on a batcher or decode thread (or inline for an immediate error), with
  // the (N, output shape...) outputs in request order, in the model's dtype, or the error.
  // `reason` is a short metrics token for errors ("bad_image", "queue_full", ...), empty on
  // success.
  using Done = std::function<void(absl::StatusOr<AnyTensor> output, std::string reason)>;

  InferenceRunner(ModelRepository* repository, ThreadPool* decode_pool, Metrics* metrics,
                  RequestLimits limits);

  // name + version (0 = the highest READY one). InvalidArgument for an empty name or negative
  // version; NotFound / Unavailable from the repository.
  absl::StatusOr<std::shared_ptr<const Servable>> Resolve(absl::string_view name,
                                                          int64_t version) const;

  // Decodes `images` with the model's input spec and runs them. The strings the views point to
  // must stay alive until `done` is called. Errors, each with its metrics reason: InvalidArgument
  // for a model that takes tensors only ("bad_image") or no images ("no_images");
  // ResourceExhausted for more than max_images_per_request images ("too_many_images", naming
  // info.batch_field), for an image whose header claims more than max_image_pixels
  // ("image_too_large") and for a full decode or batch queue ("queue_full"); InvalidArgument
  // naming the image for one that is empty or does not decode ("images[3]: ...", "bad_image");
  // then RunTensor's.
  void RunImages(std::shared_ptr<const Servable> servable, std::vector<absl::string_view> images,
                 RequestInfo info, Done done);

  // Runs an (N, input shape...) tensor (already in the model's input layout) of either dtype;
  // it is converted to the model's dtype first. Errors: ResourceExhausted for N over
  // max_images_per_request ("too_many_images", naming info.batch_field) or a full batch queue
  // ("queue_full"); DeadlineExceeded, Cancelled and the model's own errors from the batcher.
  void RunTensor(std::shared_ptr<const Servable> servable, AnyTensor batch, RequestInfo info,
                 Done done);

 private:
  // ResourceExhausted naming info.batch_field if `n` images exceed max_images_per_request.
  absl::Status CheckCount(int64_t n, const RequestInfo& info) const;

  ModelRepository* repository_;
  ThreadPool* decode_pool_;
  Metrics* metrics_;
  RequestLimits limits_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_INFERENCE_RUNNER_H_
