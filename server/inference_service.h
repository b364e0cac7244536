// Open Inference Protocol v2 (package inference, service GRPCInferenceService), wire-compatible
// with KServe / Triton / OpenVINO Model Server clients. Inputs: FP32 or FP64 tensors of shape
// (N, C, H, W) as typed contents or raw_input_contents, or a BYTES tensor of encoded images
// (shape [N] or [N, 1]). Output "output": FP32 (N, K), or with the classification extension
// (output parameter classification = k) BYTES (N, k) strings "score:index:label".
#ifndef THEANO_SERVING_SERVER_INFERENCE_SERVICE_H_
#define THEANO_SERVING_SERVER_INFERENCE_SERVICE_H_

#include <string>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/drain_gate.h"
#include "server/inference_runner.h"
#include "server/metrics.h"
#include "server/model_repository.h"

namespace theano_serving {

class InferenceServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `gate` admits each ModelInfer; while it drains, ServerReady and ModelReady answer false and
  // ModelInfer UNAVAILABLE.
  InferenceServiceImpl(InferenceRunner* runner, ModelRepository* repository, Metrics* metrics,
                       DrainGate* gate, std::string server_version);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

  // The name of the single output tensor.
  static constexpr const char* kOutputName = "output";

 private:
  InferenceRunner* runner_;
  ModelRepository* repository_;
  Metrics* metrics_;
  DrainGate* gate_;
  std::string server_version_;
};

}  // namespace theano_serving

#endif  // THEANO_SERVING_SERVER_INFERENCE_SERVICE_H_
