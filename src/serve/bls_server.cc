#include "serve/bls_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "serve/bls_wire.h"

namespace modelgrid {

void BlsServer::Serve(int fd, const std::string& worker) {
  std::vector<std::thread> done;
  {
    MutexLock lock(&mu_);
    for (uint64_t id : finished_) {
      done.push_back(std::move(threads_[id]));
      threads_.erase(id);
    }
    finished_.clear();
    if (stopped_) {
      ::close(fd);
    } else {
      fds_.push_back(fd);
      const uint64_t id = next_id_++;
      threads_[id] = std::thread([this, id, fd, worker] { Loop(id, fd, worker); });
    }
  }
  for (std::thread& t : done) t.join();  // they have left Loop: this is quick
}

void BlsServer::Stop() {
  std::map<uint64_t, std::thread> threads;
  {
    MutexLock lock(&mu_);
    stopped_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
    finished_.clear();
  }
  for (auto& [id, t] : threads) t.join();
}

void BlsServer::Loop(uint64_t id, int fd, const std::string& worker) {
  std::string header, payload;
  while (ReadBlsFrame(fd, -1, &header, &payload).ok()) {
    BlsReply reply;
    auto request = DecodeBlsRequest(header, payload);
    if (!request.ok()) {
      reply.status = request.status().WithContext("BLS call from worker " + worker);
    } else {
      server::InferRequest infer;
      infer.model = request->model;
      infer.id = request->id;
      infer.parameters = std::move(request->parameters);
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
  finished_.push_back(id);
}

}  // namespace modelgrid
