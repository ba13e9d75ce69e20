#include "grpc/infer_call.h"

#include <atomic>
#include <exception>
#include <memory>

#include "grpc/infer_proto.h"

namespace modelgrid::rpc {

void InferOne(server::InferenceService& service, const server::SystemSharedMemory& shm,
              inference::ModelInferRequest& request, inference::ModelInferResponse* response,
              std::function<void(Status)> done) {
  auto decoded = RequestFromProto(request);
  if (!decoded.ok()) return done(decoded.status());
  server::InferRequest req = std::move(decoded).value();
  auto regions = ResolveSharedMemory(shm, &req);
  if (!regions.ok()) return done(regions.status());
  server::InferRequest info = server::ReplyInfo(req);
  // A throwing service is a bug there; it must not take the server down. Whichever of the
  // callback and the exception handler comes first answers.
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto finish = [once, done](Status st) {
    if (!once->exchange(true)) done(std::move(st));
  };
  try {
    service.Infer(std::move(req), [info = std::move(info), regions = std::move(regions).value(),
                                   response, finish](Result<server::InferResponse> result) {
      if (!result.ok()) return finish(result.status());
      Status written = WriteSharedMemoryOutputs(regions, info.output_regions, result->outputs);
      if (!written.ok()) return finish(written);
      finish(ResponseToProto(std::move(result).value(), info, response));
    });
  } catch (const std::exception& e) {
    finish(Internal(std::string("internal error: ") + e.what()));
  } catch (...) {
    finish(Internal("internal error"));
  }
}

void InferOneStream(server::InferenceService& service, const server::SystemSharedMemory& shm,
                    inference::ModelInferRequest& request, EachResponse each) {
  auto decoded = RequestFromProto(request);
  if (!decoded.ok()) return each(decoded.status(), true);
  server::InferRequest req = std::move(decoded).value();
  auto regions = ResolveSharedMemory(shm, &req);
  if (!regions.ok()) return each(regions.status(), true);
  auto info = std::make_shared<server::InferRequest>(server::ReplyInfo(req));
  auto mapped = std::make_shared<std::decay_t<decltype(*regions)>>(std::move(regions).value());
  auto ended = std::make_shared<std::atomic<bool>>(false);  // the final call was made
  auto pass = [info, mapped, ended, each](std::optional<Result<server::InferResponse>> result,
                                          bool final) {
    if (ended->load()) return;
    if (final && ended->exchange(true)) return;
    if (!result) return each(std::nullopt, final);
    if (!result->ok()) return each(result->status(), final);
    Status written = WriteSharedMemoryOutputs(*mapped, info->output_regions, (*result)->outputs);
    if (!written.ok()) return each(written, final);
    inference::ModelInferResponse encoded;
    Status st = ResponseToProto(std::move(*result).value(), *info, &encoded);
    if (!st.ok()) return each(st, final);
    each(std::move(encoded), final);
  };
  try {
    service.InferStream(std::move(req), pass);
  } catch (const std::exception& e) {
    pass(Result<server::InferResponse>(Internal(std::string("internal error: ") + e.what())), true);
  } catch (...) {
    pass(Result<server::InferResponse>(Internal("internal error")), true);
  }
}

}  // namespace modelgrid::rpc
