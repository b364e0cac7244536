// Batcher on the embedded Fashion LeNet (models/fashion_lenet/1): outputs are compared bit for bit
// with Model::Predict on the same images (the engine's kernels compute each row independently, so a
// row does not depend on the batch it ran in).
#include "server/batcher.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/model_loader.h"
#include "gtest/gtest.h"

namespace theano_serving {
namespace {

const std::string kModelDir = std::string(TS_SOURCE_DIR) + "/models/fashion_lenet/1";

// n distinct 28x28 images; `seed` makes them differ between calls. Values in [0, 1).
Tensor<float> Images(int64_t n, int seed) {
  Tensor<float> t(Shape{n, 1, 28, 28});
  for (int64_t i = 0; i < t.size(); ++i) {
    const int64_t image = i / 784 + seed * 1000;
    t.data()[i] = static_cast<float>((i * 7919 + image * 104729) % 256) / 256.0f;
  }
  return t;
}

// Rows [first, first + n) of a (N, C, H, W) tensor.
Tensor<float> Slice(const Tensor<float>& t, int64_t first, int64_t n) {
  const int64_t per = t.size() / t.dim(0);
  Shape shape = t.shape();
  shape[0] = n;
  return Tensor<float>(shape, std::vector<float>(t.values().begin() + first * per,
                                                 t.values().begin() + (first + n) * per));
}

class BatcherTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = LoadModel(kModelDir);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = new std::shared_ptr<const Model>(std::move(*m));
  }
  static void TearDownTestSuite() { delete model_; }
  static std::shared_ptr<const Model> model() { return *model_; }
  static Tensor<float> Predict(const Tensor<float>& images) {
    auto out = model()->Predict(images);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : Tensor<float>();
  }

  static std::shared_ptr<const Model>* model_;
};
std::shared_ptr<const Model>* BatcherTest::model_ = nullptr;

// What one done call delivered.
struct Result {
  absl::Mutex mu;
  int calls = 0;
  absl::Status status;
  Tensor<float> output;
  BatchStats stats;
  absl::Notification finished;
};

BatchTask TaskInto(Tensor<float> images, Result* r) {
  BatchTask task;
  task.images = std::move(images);
  task.done = [r](absl::StatusOr<AnyTensor> out, const BatchStats& stats) {
    {
      absl::MutexLock lock(&r->mu);
      ++r->calls;
      r->status = out.status();
      if (out.ok()) r->output = std::get<Tensor<float>>(std::move(*out));
      r->stats = stats;
    }
    if (!r->finished.HasBeenNotified()) r->finished.Notify();
  };
  return task;
}

TEST_F(BatcherTest, OneTaskEqualsPredictExactly) {
  BatcherOptions options;
  options.max_queue_delay = absl::ZeroDuration();
  Batcher batcher(model(), options);
  const Tensor<float> images = Images(5, 1);
  Result r;
  ASSERT_TRUE(batcher.Submit(TaskInto(images, &r)).ok());
  r.finished.WaitForNotification();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.output.shape(), (Shape{5, 10}));
  EXPECT_EQ(r.output.values(), Predict(images).values());
  EXPECT_EQ(r.stats.batch_size, 5);
  EXPECT_TRUE(r.stats.first_in_batch);
}

TEST_F(BatcherTest, TasksThatFillABatchRunTogetherAndGetTheirOwnRows) {
  BatcherOptions options;
  options.max_batch_size = 6;
  options.max_queue_delay = absl::InfiniteDuration();  // runs only when 6 images are queued
  Batcher batcher(model(), options);
  const Tensor<float> all = Images(6, 2);
  const Tensor<float> expected = Predict(all);
  // Tasks of 1, 2 and 3 images: rows [0,1), [1,3), [3,6).
  Result r[3];
  ASSERT_TRUE(batcher.Submit(TaskInto(Slice(all, 0, 1), &r[0])).ok());
  ASSERT_TRUE(batcher.Submit(TaskInto(Slice(all, 1, 2), &r[1])).ok());
  EXPECT_EQ(batcher.queued_images(), 3);
  ASSERT_TRUE(batcher.Submit(TaskInto(Slice(all, 3, 3), &r[2])).ok());
  const int64_t first[] = {0, 1, 3}, count[] = {1, 2, 3};
  int firsts = 0;
  for (int i = 0; i < 3; ++i) {
    r[i].finished.WaitForNotification();
    ASSERT_TRUE(r[i].status.ok()) << r[i].status;
    EXPECT_EQ(r[i].stats.batch_size, 6);  // one model run for all three
    firsts += r[i].stats.first_in_batch ? 1 : 0;
    const Tensor<float> want = Slice(expected, first[i], count[i]);
    EXPECT_EQ(r[i].output.shape(), want.shape());
    EXPECT_EQ(r[i].output.values(), want.values()) << "task " << i;
  }
  EXPECT_EQ(firsts, 1);
}

TEST_F(BatcherTest, ConcurrentSubmittersGetTheirOwnRows) {
  BatcherOptions options;
  options.max_batch_size = 8;
  options.max_queue_delay = absl::Milliseconds(20);
  options.max_queue_images = 4096;
  options.num_threads = 2;
  Batcher batcher(model(), options);

  constexpr int kThreads = 8, kTasksPerThread = 12;
  // Task t of thread th has 1 + (t % 3) images of seed th * 100 + t.
  std::vector<std::vector<Tensor<float>>> inputs(kThreads), outputs(kThreads);
  std::vector<std::vector<int>> sizes(kThreads);
  for (int th = 0; th < kThreads; ++th) {
    for (int t = 0; t < kTasksPerThread; ++t) inputs[th].push_back(Images(1 + t % 3, th * 100 + t));
    outputs[th].resize(kTasksPerThread);
    sizes[th].assign(kTasksPerThread, -1);
  }
  absl::BlockingCounter pending(kThreads * kTasksPerThread);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int t = 0; t < kTasksPerThread; ++t) {
        BatchTask task;
        task.images = inputs[th][t];
        task.done = [&, th, t](absl::StatusOr<AnyTensor> out, const BatchStats& stats) {
          if (out.ok()) {
            outputs[th][t] = std::get<Tensor<float>>(std::move(*out));
          } else {
            ++errors;
          }
          sizes[th][t] = stats.batch_size;
          pending.DecrementCount();
        };
        absl::Status s = batcher.Submit(std::move(task));
        if (!s.ok()) {
          ADD_FAILURE() << s;
          pending.DecrementCount();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  pending.Wait();
  EXPECT_EQ(errors.load(), 0);

  int largest = 0;
  for (int th = 0; th < kThreads; ++th) {
    for (int t = 0; t < kTasksPerThread; ++t) {
      EXPECT_LE(sizes[th][t], options.max_batch_size);
      EXPECT_GE(sizes[th][t], 1 + t % 3);
      largest = std::max(largest, sizes[th][t]);
      // Per image, against a batch-of-one Predict.
      const Tensor<float>& in = inputs[th][t];
      const Tensor<float>& out = outputs[th][t];
      ASSERT_EQ(out.shape(), (Shape{in.dim(0), 10}));
      for (int64_t i = 0; i < in.dim(0); ++i) {
        const Tensor<float> want = Predict(Slice(in, i, 1));
        const std::vector<float> got(out.values().begin() + i * 10,
                                     out.values().begin() + (i + 1) * 10);
        EXPECT_EQ(got, want.values()) << "thread " << th << " task " << t << " image " << i;
      }
    }
  }
  // 96 tasks submitted at once against a 20 ms window: batching must have happened.
  EXPECT_GT(largest, 1);
}

TEST_F(BatcherTest, FullQueueIsRefusedAtOnceAndDestructorRunsTheRest) {
  BatcherOptions options;
  options.max_batch_size = 8;
  options.max_queue_delay = absl::InfiniteDuration();  // nothing runs before the destructor
  options.max_queue_images = 4;
  absl::Mutex depth_mu;
  std::vector<int> depths;
  Result r[4];
  {
    Batcher batcher(model(), options, [&](int queued) {
      absl::MutexLock lock(&depth_mu);
      depths.push_back(queued);
    });
    ASSERT_TRUE(batcher.Submit(TaskInto(Images(3, 3), &r[0])).ok());
    Result refused;
    absl::Status s = batcher.Submit(TaskInto(Images(2, 4), &refused));  // 3 + 2 > 4
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_NE(s.message().find("max_queue_images 4"), absl::string_view::npos) << s;
    ASSERT_TRUE(batcher.Submit(TaskInto(Images(1, 5), &r[1])).ok());
    EXPECT_EQ(batcher.queued_images(), 4);
    s = batcher.Submit(TaskInto(Images(1, 6), &refused));
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_EQ(refused.calls, 0);  // refused tasks are never called back
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(r[i].finished.HasBeenNotified());
    EXPECT_EQ(r[i].calls, 1);
    EXPECT_TRUE(r[i].status.ok()) << r[i].status;
    EXPECT_EQ(r[i].stats.batch_size, 4);
  }
  EXPECT_EQ(r[0].output.values(), Predict(Images(3, 3)).values());
  EXPECT_EQ(r[1].output.values(), Predict(Images(1, 5)).values());
  absl::MutexLock lock(&depth_mu);
  EXPECT_EQ(depths, (std::vector<int>{3, 4, 0}));
}

// A request split into several tasks (more images than max_batch_size) is queued whole or refused
// whole: a partial admission would make its refusal wait for the admitted part's inference.
TEST_F(BatcherTest, SubmitAllIsAllOrNothing) {
  BatcherOptions options;
  options.max_batch_size = 2;
  options.max_queue_delay = absl::InfiniteDuration();  // nothing runs before the destructor
  options.max_queue_images = 5;
  Result r[4];
  {
    Batcher batcher(model(), options);
    ASSERT_TRUE(batcher.Submit(TaskInto(Images(1, 7), &r[0])).ok());
    EXPECT_TRUE(batcher.HasRoomFor(4));
    EXPECT_FALSE(batcher.HasRoomFor(5));
    // 1 queued + 2 + 2 + 1 = 6 > 5: none of the three is queued, none is called back.
    Result refused[3];
    std::vector<BatchTask> tasks;
    tasks.push_back(TaskInto(Images(2, 8), &refused[0]));
    tasks.push_back(TaskInto(Images(2, 9), &refused[1]));
    tasks.push_back(TaskInto(Images(1, 10), &refused[2]));
    absl::Status s = batcher.SubmitAll(std::move(tasks));
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    EXPECT_NE(s.message().find("5 more would exceed max_queue_images 5"), absl::string_view::npos)
        << s;
    EXPECT_EQ(batcher.queued_images(), 1);
    // A bad task anywhere refuses the whole set before anything is queued.
    tasks.clear();
    tasks.push_back(TaskInto(Images(2, 11), &refused[0]));
    tasks.push_back(TaskInto(Images(3, 12), &refused[1]));  // 3 > max_batch_size 2
    EXPECT_EQ(batcher.SubmitAll(std::move(tasks)).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(batcher.SubmitAll({}).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(batcher.queued_images(), 1);
    for (const Result& x : refused) EXPECT_EQ(x.calls, 0);
    // 1 + 2 + 1 = 4 <= 5: both queued (a worker may start on a full batch of 2 at once).
    tasks.clear();
    tasks.push_back(TaskInto(Images(2, 13), &r[1]));
    tasks.push_back(TaskInto(Images(1, 14), &r[2]));
    ASSERT_TRUE(batcher.SubmitAll(std::move(tasks)).ok());
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(r[i].finished.HasBeenNotified()) << i;
    EXPECT_EQ(r[i].calls, 1);
    EXPECT_TRUE(r[i].status.ok()) << r[i].status;
  }
  EXPECT_EQ(r[1].output.values(), Predict(Images(2, 13)).values());
  EXPECT_EQ(r[2].output.values(), Predict(Images(1, 14)).values());
}

TEST_F(BatcherTest, ExpiredAndCancelledTasksAreDroppedOthersRun) {
  BatcherOptions options;
  options.max_batch_size = 3;
  options.max_queue_delay = absl::InfiniteDuration();
  Batcher batcher(model(), options);
  Result expired, cancelled, fine;
  BatchTask a = TaskInto(Images(1, 7), &expired);
  a.deadline = absl::Now() - absl::Seconds(1);
  BatchTask b = TaskInto(Images(1, 8), &cancelled);
  b.cancelled = [] { return true; };
  BatchTask c = TaskInto(Images(1, 9), &fine);
  c.cancelled = [] { return false; };
  c.deadline = absl::Now() + absl::Hours(1);
  ASSERT_TRUE(batcher.Submit(std::move(a)).ok());
  ASSERT_TRUE(batcher.Submit(std::move(b)).ok());
  ASSERT_TRUE(batcher.Submit(std::move(c)).ok());  // 3 images: the batch is full and runs
  expired.finished.WaitForNotification();
  cancelled.finished.WaitForNotification();
  fine.finished.WaitForNotification();
  EXPECT_EQ(expired.status.code(), absl::StatusCode::kDeadlineExceeded) << expired.status;
  EXPECT_EQ(cancelled.status.code(), absl::StatusCode::kCancelled) << cancelled.status;
  EXPECT_EQ(expired.stats.batch_size, 0);
  EXPECT_FALSE(expired.stats.first_in_batch);
  ASSERT_TRUE(fine.status.ok()) << fine.status;
  EXPECT_EQ(fine.stats.batch_size, 1);  // only the live task ran
  EXPECT_TRUE(fine.stats.first_in_batch);
  EXPECT_EQ(fine.output.values(), Predict(Images(1, 9)).values());
}

TEST_F(BatcherTest, BadTasksAreRefused) {
  BatcherOptions options;
  options.max_batch_size = 8;
  Batcher batcher(model(), options);
  Result r;
  absl::Status s = batcher.Submit(TaskInto(Tensor<float>(Shape{2, 1, 28, 27}), &r));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("(2, 1, 28, 27)"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("(2, 1, 28, 28)"), absl::string_view::npos) << s;
  s = batcher.Submit(TaskInto(Tensor<float>(Shape{1, 28, 28}), &r));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = batcher.Submit(TaskInto(Tensor<float>(Shape{0, 1, 28, 28}), &r));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  s = batcher.Submit(TaskInto(Images(9, 0), &r));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("9 images"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("max_batch_size 8"), absl::string_view::npos) << s;
  BatchTask no_done;
  no_done.images = Images(1, 0);
  EXPECT_EQ(batcher.Submit(std::move(no_done)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(batcher.queued_images(), 0);
  EXPECT_EQ(r.calls, 0);
}

TEST_F(BatcherTest, SubmitDuringShutdownIsUnavailable) {
  BatcherOptions options;
  options.max_queue_delay = absl::InfiniteDuration();
  absl::Status during_shutdown;
  Result r;
  {
    Batcher batcher(model(), options);
    BatchTask task = TaskInto(Images(1, 10), &r);
    auto inner = std::move(task.done);
    Batcher* self = &batcher;
    task.done = [&, inner, self](absl::StatusOr<AnyTensor> out, const BatchStats& stats) {
      // Runs inside ~Batcher (the queue is flushed then): new work is refused.
      Result ignored;
      during_shutdown = self->Submit(TaskInto(Images(1, 11), &ignored));
      inner(std::move(out), stats);
    };
    ASSERT_TRUE(batcher.Submit(std::move(task)).ok());
  }
  EXPECT_EQ(r.calls, 1);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(during_shutdown.code(), absl::StatusCode::kUnavailable) << during_shutdown;
}

// The server's callbacks hold the Servable (and so the Batcher); when a version is unloaded with
// requests in flight, the last reference can go on the batcher's own thread. That must neither
// deadlock (a thread joining itself) nor lose queued tasks.
TEST_F(BatcherTest, LastReferenceDroppedOnItsOwnThread) {
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  auto batcher = std::make_shared<Batcher>(model(), options);
  absl::Notification gate;
  Result r[3];
  for (int i = 0; i < 3; ++i) {
    BatchTask task = TaskInto(Images(1, 20 + i), &r[i]);
    auto inner = std::move(task.done);
    task.done = [inner, keep = batcher, &gate, i](absl::StatusOr<AnyTensor> out,
                                                  const BatchStats& stats) {
      if (i == 0) gate.WaitForNotification();  // hold the thread until the test let go
      inner(std::move(out), stats);
    };
    ASSERT_TRUE(batcher->Submit(std::move(task)).ok());
  }
  batcher.reset();  // the tasks' callbacks now hold the only references
  gate.Notify();
  for (int i = 0; i < 3; ++i) {
    r[i].finished.WaitForNotification();
    EXPECT_TRUE(r[i].status.ok()) << r[i].status;
    EXPECT_EQ(r[i].output.values(), Predict(Images(1, 20 + i)).values());
  }
}

}  // namespace
}  // namespace theano_serving
