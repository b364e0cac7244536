// theano_serving.v1.ClassificationService over the gRPC callback API. Each method is a thin
// adaptor: read the request, hand it to InferenceRunner, convert the status once, record metrics.
#ifndef THEANO_SERVING_SERVER_CLASSIFICATION_SERVICE_H_
#define THEANO_SERVING_SERVER_CLASSIFICATION_SERVICE_H_

#include "server/drain_gate.h"
#include "server/inference_runner.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {

class ClassificationServiceImpl final
    : public theano_serving::v1::ClassificationService::CallbackService {
 public:
  // `gate` admits each Classify (UNAVAILABLE while the server drains).
  ClassificationServiceImpl(InferenceRunner* runner, ModelRepository* repository, Metrics* metrics,
                            DrainGate* gate);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModelMetadata(grpc::CallbackServerContext* context,
                                             const v1::GetModelMetadataRequest* request,
                                             v1::ModelMetadata* response) override;

 private:
  InferenceRunner* runner_;
  ModelRepository* repository_;
  Metrics* metrics_;
  DrainGate* gate_;
};

// Fills a ModelMetadata message from a loaded version (shared with the v2 metadata RPC's needs).
void FillModelMetadata(const Servable& servable, const ModelRepository& repository,
                       v1::ModelMetadata* out);

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_CLASSIFICATION_SERVICE_H_
