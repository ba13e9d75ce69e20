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
#include <optional>
#include <utility>
#include <vector>

#include "serve/grid_types.h"
#include "serve/registry.h"

namespace modelgrid {

class TierManager;

class RequestPath {
 public:
  using Done = std::function<void(Result<server::InferResponse>)>;
  // Borrows both, which outlive it.
  RequestPath(const GridContext& grid, const Registry& registry)
      : grid_(grid), registry_(registry) {}

  // Runs `request`; `done` is called exactly once, on a channel or batcher thread, or here
  // when the request is refused. A decoupled model's request is refused (kInvalidArgument):
  // it may have several responses.
  void Infer(server::InferRequest request, Done done);
  // Runs `request` on a model that may answer several times (a decoupled one; any other
  // answers once): `each` gets every response in order, the last with final set (exactly
  // once; nullopt when the model ended without a response). A response may be an error
  // without being the last.
  using Each = std::function<void(std::optional<Result<server::InferResponse>>, bool final)>;
  void InferStream(server::InferRequest request, Each each);
  // Gives `m` its dynamic batcher when its config asks for one (before it serves).
  void AttachBatcher(const std::shared_ptr<Model>& m);
  // Routes requests of tiered models through `tiers` (which outlives this), before the
  // first request.
  void UseTiers(TierManager* tiers) { tiers_ = tiers; }

 private:
  // Sends a group of requests as one execution (concatenated along dimension 0 when there
  // are several) and completes each with its slice of the outputs.
  void Execute(Model* m, std::vector<PendingInfer> group);
  // Answers every request of an executed group from the worker's reply.
  void RespondGroup(Model* m, std::vector<PendingInfer>& group, int64_t total, Result<Reply> reply);
  // Answers one request; the last thing it does is release the request's hold on `m`.
  void Complete(Model* m, PendingInfer& p, Result<std::vector<server::Tensor>> outputs);
  // One response of `p` from its outputs: the outputs asked for, named by model and
  // version, classified where asked.
  Result<server::InferResponse> Respond(Model* m, const PendingInfer& p,
                                        Result<std::vector<server::Tensor>> outputs);
  // The checks Infer and InferStream share; the admitted request's PendingInfer (with the
  // model's ticket) and its model.
  Result<std::pair<Model*, PendingInfer>> Admit(server::InferRequest request);
  // The worker's reply for a decoupled model's request `p`: one of its responses, or with
  // `final` its last (none when `reply` is nullopt).
  void StreamReply(Model* m, PendingInfer& p, std::optional<Result<Reply>> reply, bool final);

  const GridContext& grid_;
  const Registry& registry_;
  TierManager* tiers_ = nullptr;  // the host-memory tier, when on
};

}  // namespace modelgrid
