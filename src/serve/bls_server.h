// BlsServer: the server's end of the workers' BLS sockets (serve/bls_wire.h). Each socket
// gets a thread that reads a worker's calls one at a time, runs each as an inference
// request through the serving core (admission, batching, routing to whichever worker
// hosts the model, statistics), and writes the reply. A worker that sends garbage gets an
// error reply, or its socket closed when the stream itself is broken; nothing it sends can
// crash the server.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "server/inference_service.h"

namespace modelgrid {

class BlsServer {
 public:
  using Infer =
      std::function<void(server::InferRequest, std::function<void(Result<server::InferResponse>)>)>;

  explicit BlsServer(Infer infer) : infer_(std::move(infer)) {}
  ~BlsServer() { Stop(); }
  BlsServer(const BlsServer&) = delete;
  BlsServer& operator=(const BlsServer&) = delete;

  // Serves the calls arriving on `fd` (owned from now on; closed at its end) from worker
  // `worker`, until the worker closes it or Stop.
  void Serve(int fd, const std::string& worker) EXCLUDES(mu_);
  // Shuts every socket down (their threads end once their call in flight is answered) and
  // joins the threads. Idempotent; Serve after it closes the socket at once.
  void Stop() EXCLUDES(mu_);

 private:
  void Loop(uint64_t id, int fd, const std::string& worker);

  const Infer infer_;
  Mutex mu_;
  bool stopped_ GUARDED_BY(mu_) = false;
  std::vector<int> fds_ GUARDED_BY(mu_);  // open sockets, for Stop's shutdown
  uint64_t next_id_ GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::thread> threads_ GUARDED_BY(mu_);
  // Threads whose socket closed (their worker exited): joined by the next Serve or Stop,
  // so that restarts do not pile up threads.
  std::vector<uint64_t> finished_ GUARDED_BY(mu_);
};

}  // namespace modelgrid
