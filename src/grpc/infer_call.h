// One inference from a gRPC request to a gRPC response, shared by ModelInfer and
// ModelStreamInfer: decode, shared memory in, the service, shared memory out, encode.
#pragma once

#include <functional>
#include <optional>

#include "common/status.h"
#include "grpc_service.pb.h"
#include "server/inference_service.h"
#include "server/shared_memory.h"

namespace modelgrid::rpc {

// Runs `request` (its raw input bytes are moved out) on `service` and fills `*response`.
// `done` is called exactly once, on any thread (possibly before InferOne returns), after
// `*response` is filled or with the error; `response` must stay valid until then.
void InferOne(server::InferenceService& service, const server::SystemSharedMemory& shm,
              inference::ModelInferRequest& request, inference::ModelInferResponse* response,
              std::function<void(Status)> done);

// As InferOne, for ModelStreamInfer, where a model may answer several times (InferenceService::
// InferStream): `each` gets every response, encoded, in order, the last with final set
// (exactly once); an error response as its Status; nullopt when the model ended without a
// last response. Shared-memory outputs are written for every response.
using EachResponse =
    std::function<void(std::optional<Result<inference::ModelInferResponse>>, bool final)>;
void InferOneStream(server::InferenceService& service, const server::SystemSharedMemory& shm,
                    inference::ModelInferRequest& request, EachResponse each);

}  // namespace modelgrid::rpc
