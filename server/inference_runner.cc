#include "server/inference_runner.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/preprocess.h"

namespace theano_serving {
namespace {

// Collects the chunks of one request coming back from the batcher (possibly on several threads)
// and calls `done` once, with every row in order or with the first error.
struct Gather {
  Gather(DType dtype, Shape shape, int chunks, InferenceRunner::Done d)
      : output(MakeTensor(dtype, std::move(shape))), remaining(chunks), done(std::move(d)) {}
  AnyTensor output;
  absl::Mutex mu;
  absl::Status error ABSL_GUARDED_BY(mu);
  std::string reason ABSL_GUARDED_BY(mu);
  int remaining ABSL_GUARDED_BY(mu);
  InferenceRunner::Done done;

  void ChunkDone(int64_t first_row, const absl::StatusOr<AnyTensor>& rows) {
    bool last;
    {
      absl::MutexLock lock(&mu);
      if (rows.ok()) {
        std::visit(
            [&](auto& out) {
              using TensorT = std::remove_reference_t<decltype(out)>;
              const TensorT& part = std::get<TensorT>(*rows);
              const int64_t per_row = out.dim(0) > 0 ? out.size() / out.dim(0) : 0;
              std::copy(part.data(), part.data() + part.size(), out.data() + first_row * per_row);
            },
            output);
      } else if (error.ok()) {
        error = rows.status();
        reason = rows.status().code() == absl::StatusCode::kResourceExhausted  ? "queue_full"
                 : rows.status().code() == absl::StatusCode::kDeadlineExceeded ? "deadline"
                 : rows.status().code() == absl::StatusCode::kCancelled        ? "cancelled"
                                                                               : "inference";
      }
      last = --remaining == 0;
    }
    if (!last) return;
    absl::Status err;
    std::string why;
    {
      absl::MutexLock lock(&mu);
      err = error;
      why = reason;
    }
    if (err.ok()) {
      done(std::move(output), "");
    } else {
      done(err, why);
    }
  }
};

}  // namespace

absl::Status InferenceRunner::CheckCount(int64_t n, const RequestInfo& info) const {
  if (n <= limits_.max_images_per_request) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(info.batch_field, ": ", n,
                                                   " images in one request exceed the limit of ",
                                                   limits_.max_images_per_request));
}

InferenceRunner::InferenceRunner(ModelRepository* repository, ThreadPool* decode_pool,
                                 Metrics* metrics, RequestLimits limits)
    : repository_(repository), decode_pool_(decode_pool), metrics_(metrics), limits_(limits) {}

absl::StatusOr<std::shared_ptr<const Servable>> InferenceRunner::Resolve(absl::string_view name,
                                                                         int64_t version) const {
  if (name.empty()) return absl::InvalidArgumentError("model_name is required");
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_version must be >= 0 (0 = latest), got ", version));
  }
  return repository_->Get(name, version);
}

void InferenceRunner::RunImages(std::shared_ptr<const Servable> servable,
                                std::vector<absl::string_view> images, RequestInfo info,
                                Done done) {
  const int64_t n = static_cast<int64_t>(images.size());
  if (const InputSpec& spec = servable->model().input(); !spec.images) {
    done(absl::InvalidArgumentError(absl::StrCat(
             "model ", servable->name(), " takes tensors of shape ", ShapeToString(spec.shape()),
             " (send FP32/FP64 tensors with the OIP v2 ModelInfer), not encoded images")),
         "bad_image");
    return;
  }
  if (n == 0) {
    done(absl::InvalidArgumentError("images: at least one image is required"), "no_images");
    return;
  }
  if (absl::Status too_many = CheckCount(n, info); !too_many.ok()) {
    done(too_many, "too_many_images");
    return;
  }
  // Decompression bombs: the header's dimensions are checked before any pixel is decoded.
  for (int64_t i = 0; i < n; ++i) {
    const absl::string_view bytes = images[static_cast<size_t>(i)];
    if (bytes.empty()) {
      done(absl::InvalidArgumentError(absl::StrCat("images[", i, "].data is empty")), "bad_image");
      return;
    }
    auto header = PeekImageSize(bytes);
    if (!header.ok()) {
      done(absl::InvalidArgumentError(absl::StrCat("images[", i, "]: ", header.status().message())),
           "bad_image");
      return;
    }
    if (absl::Status too_large = CheckImagePixels(*header, limits_.max_image_pixels);
        !too_large.ok()) {
      done(absl::ResourceExhaustedError(absl::StrCat("images[", i, "]: ", too_large.message())),
           "image_too_large");
      return;
    }
  }
  // Overload is refused here, before any decoding, when the batch queue cannot take the images
  // now: a refusal costs the request a header peek, never a decode or a wait (RunTensor checks
  // again, atomically, in case the queue filled during the decode).
  if (!servable->batcher().HasRoomFor(n)) {
    done(absl::ResourceExhaustedError(
             absl::StrCat("model ", servable->name(), ": the batch queue cannot take ", n,
                          " more images (max_queue_images ",
                          servable->batcher().options().max_queue_images, ")")),
         "queue_full");
    return;
  }
  auto task = [this, servable, images = std::move(images), info, done]() mutable {
    const absl::Time decode_start = absl::Now();
    if (decode_start > info.deadline) {
      done(absl::DeadlineExceededError("deadline passed before the images were decoded"),
           "deadline");
      return;
    }
    const InputSpec& spec = servable->model().input();
    const int64_t count = static_cast<int64_t>(images.size());
    const int64_t per_image = NumElements(spec.shape());
    Tensor<float> batch(spec.BatchShape(count));
    for (int64_t i = 0; i < count; ++i) {
      absl::Status s =
          DecodeImageInto(images[static_cast<size_t>(i)], spec, batch.data() + i * per_image);
      if (!s.ok()) {
        done(absl::Status(s.code(), absl::StrCat("images[", i, "]: ", s.message())),
             s.code() == absl::StatusCode::kResourceExhausted ? "image_too_large" : "bad_image");
        return;
      }
    }
    metrics_->Stage(servable->name(), "decode", absl::Now() - decode_start);
    RunTensor(std::move(servable), AnyTensor(std::move(batch)), std::move(info), std::move(done));
  };
  absl::Status scheduled = decode_pool_->Schedule(std::move(task));
  if (!scheduled.ok()) {
    done(absl::ResourceExhaustedError(
             absl::StrCat("the image decode queue is full: ", scheduled.message())),
         "queue_full");
  }
}

void InferenceRunner::RunTensor(std::shared_ptr<const Servable> servable, AnyTensor batch,
                                RequestInfo info, Done done) {
  const int64_t n = ShapeOf(batch).empty() ? 0 : ShapeOf(batch)[0];
  if (absl::Status too_many = CheckCount(n, info); !too_many.ok()) {
    done(too_many, "too_many_images");
    return;
  }
  const Model& model = servable->model();
  batch = ConvertTo(std::move(batch), model.dtype());
  Shape out_shape = model.output_shape();
  out_shape.insert(out_shape.begin(), n);
  const int max_batch = std::max(1, servable->batcher().options().max_batch_size);
  const int chunks = static_cast<int>((n + max_batch - 1) / max_batch);
  if (n == 0) {
    done(MakeTensor(model.dtype(), std::move(out_shape)), "");
    return;
  }
  auto gather =
      std::make_shared<Gather>(model.dtype(), std::move(out_shape), chunks, std::move(done));
  Metrics* metrics = metrics_;
  const std::string name = servable->name();
  const std::string version = absl::StrCat(servable->version());
  std::vector<BatchTask> tasks(static_cast<size_t>(chunks));
  for (int c = 0; c < chunks; ++c) {
    const int64_t first = static_cast<int64_t>(c) * max_batch;
    const int64_t rows = std::min<int64_t>(max_batch, n - first);
    BatchTask& task = tasks[static_cast<size_t>(c)];
    task.images = chunks == 1 ? std::move(batch) : SliceRows(batch, first, rows);
    task.deadline = info.deadline;
    task.cancelled = info.cancelled;
    task.done = [gather, first, rows, metrics, name, version, servable](
                    absl::StatusOr<AnyTensor> out, const BatchStats& stats) {
      if (stats.first_in_batch) metrics->Batch(name, version, stats.batch_size);
      if (out.ok()) {
        metrics->Stage(name, "queue", stats.queue_time);
        metrics->Stage(name, "inference", stats.inference_time);
        metrics->Images(name, version, static_cast<int>(rows));
      }
      gather->ChunkDone(first, out);
    };
  }
  // All chunks or none: a request is never refused after part of it was queued (its refusal
  // would otherwise wait for the accepted part's inference).
  absl::Status s = servable->batcher().SubmitAll(std::move(tasks));
  if (!s.ok()) {
    // SubmitAll refused every task, so no done will run: answer for the whole request here.
    for (int c = 0; c < chunks; ++c) gather->ChunkDone(static_cast<int64_t>(c) * max_batch, s);
  }
}

}  // namespace theano_serving
