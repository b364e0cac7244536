#include "tests/fuzz/in_process_server.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include "server/classification_service.h"
#include "server/drain_gate.h"
#include "server/inference_runner.h"
#include "server/inference_service.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "server/thread_pool.h"

namespace theano_serving {
namespace fuzz {
namespace {

struct State {
  Metrics metrics;
  std::unique_ptr<ModelRepository> repository;
  std::unique_ptr<ThreadPool> decode_pool;
  std::unique_ptr<InferenceRunner> runner;
  DrainGate gate;  // never closed
  std::unique_ptr<ClassificationServiceImpl> classification;
  std::unique_ptr<InferenceServiceImpl> inference;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

State* Build() {
  auto* s = new State;
  RepositoryOptions options;
  options.root = std::string(TS_SOURCE_DIR) + "/models";
  options.poll_interval = absl::ZeroDuration();
  options.batcher.max_batch_size = 4;
  options.batcher.max_queue_delay = absl::ZeroDuration();
  auto repository = ModelRepository::Create(options);
  if (!repository.ok() || !(*repository)->AnyReady("fashion_lenet")) {
    std::cerr << "fuzz: cannot load " << options.root << "/fashion_lenet" << std::endl;
    std::abort();
  }
  s->repository = *std::move(repository);
  s->decode_pool = std::make_unique<ThreadPool>(1, 64);
  RequestLimits limits;
  limits.max_images_per_request = kMaxImagesPerRequest;
  limits.max_image_pixels = kMaxImagePixels;
  s->runner = std::make_unique<InferenceRunner>(s->repository.get(), s->decode_pool.get(),
                                                &s->metrics, limits);
  s->classification = std::make_unique<ClassificationServiceImpl>(
      s->runner.get(), s->repository.get(), &s->metrics, &s->gate);
  s->inference = std::make_unique<InferenceServiceImpl>(s->runner.get(), s->repository.get(),
                                                        &s->metrics, &s->gate, "fuzz");
  grpc::ServerBuilder builder;
  builder.RegisterService(s->classification.get());
  builder.RegisterService(s->inference.get());
  s->server = builder.BuildAndStart();
  if (s->server == nullptr) std::abort();
  s->channel = s->server->InProcessChannel(grpc::ChannelArguments());
  return s;
}

}  // namespace

std::shared_ptr<grpc::Channel> InProcessChannel() {
  static State* state = Build();
  return state->channel;
}

}  // namespace fuzz
}  // namespace theano_serving
