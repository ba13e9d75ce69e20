// RequestPath: an inference request from the front end to a worker and back. Checks the
// request against the model, queues it in the model's dynamic batcher when it has one,
// routes each execution to the least busy placement whose worker is up, and answers every
// request of a group with its slice of the outputs, counting Triton's statistics.
//
// A request holds a ticket of its model from admission to answer, and one of its placement
// while at the worker (serve/in_flight.h): unloads and moves wait for exactly those.
// Thread-safe; never blocks (a full worker queues the call, see WorkerClient::Call).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "serve/grid_types.h"
#include "serve/registry.h"

namespace modelgrid {

class RequestPath {
 public:
  using Done = std::function<void(Result<server::InferResponse>)>;
  // Borrows both, which outlive it.
  RequestPath(const GridContext& grid, const Registry& registry)
      : grid_(grid), registry_(registry) {}

  // Runs `request`; `done` is called exactly once, on a channel or batcher thread, or here
  // when the request is refused.
  void Infer(server::InferRequest request, Done done);
  // Gives `m` its dynamic batcher when its config asks for one (before it serves).
  void AttachBatcher(const std::shared_ptr<Model>& m);

 private:
  // Sends a group of requests as one execution (concatenated along dimension 0 when there
  // are several) and completes each with its slice of the outputs.
  void Execute(Model* m, std::vector<PendingInfer> group);
  // Answers every request of an executed group from the worker's reply.
  void RespondGroup(Model* m, std::vector<PendingInfer>& group, int64_t total, Result<Reply> reply);
  // Answers one request; the last thing it does is release the request's hold on `m`.
  void Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs);

  const GridContext& grid_;
  const Registry& registry_;
};

}  // namespace modelgrid
