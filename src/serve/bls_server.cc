#include "serve/bls_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "serve/bls_wire.h"

namespace modelgrid {

void BlsServer::Serve(int fd, const std::string& worker) {
  MutexLock lock(&mu_);
  if (stopped_) {
    ::close(fd);
    return;
  }
  fds_.push_back(fd);
  threads_.emplace_back([this, fd, worker] { Loop(fd, worker); });
}

void BlsServer::Stop() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(&mu_);
    stopped_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void BlsServer::Loop(int fd, const std::string& worker) {
  std::string header, payload;
  while (ReadBlsFrame(fd, -1, &header, &payload).ok()) {
    BlsReply reply;
    auto request = DecodeBlsRequest(header, payload);
    if (!request.ok()) {
      reply.status = request.status().WithContext("BLS call from worker " + worker);
    } else {
      server::InferRequest infer;
      infer.model = request->model;
      if (request->version > 0) infer.version = std::to_string(request->version);
      infer.inputs = std::move(request->inputs);
      std::promise<Result<server::InferResponse>> answered;
      auto answer = answered.get_future();
      infer_(std::move(infer),
             [&answered](Result<server::InferResponse> r) { answered.set_value(std::move(r)); });
      Result<server::InferResponse> response = answer.get();
      if (response.ok()) {
        reply.outputs = std::move(response->outputs);
      } else {
        reply.status = response.status();
      }
    }
    if (!WriteBlsFrame(fd, EncodeBlsReply(reply)).ok()) break;
  }
  MutexLock lock(&mu_);
  fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  ::close(fd);
}

}  // namespace modelgrid
