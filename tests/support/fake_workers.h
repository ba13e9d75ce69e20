// In-process fake workers behind the WorkerLauncher seam (serve/worker_launcher.h), so that
// the serving core's lifecycle runs in a test without processes: loads, unloads and
// inferences are answered on the fleet's own thread (as a real channel's thread would),
// and a test can hold any kind of call, kill a worker mid-call, or replay a stale exit.
//
// A FakeFleet is shared between the test and the launcher it makes (Launcher()), which the
// ModelGrid owns. Thread-safe.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ipc/shm_layout.h"
#include "serve/worker_launcher.h"

namespace modelgrid::testing {

class FakeFleet : public std::enable_shared_from_this<FakeFleet> {
 public:
  // The warm-up peak every load reports.
  static constexpr uint64_t kPeakBytes = uint64_t{3} << 20;

  FakeFleet() : thread_([this] { Run(); }) {}
  ~FakeFleet() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // A launcher for ModelGrid::Start; the fleet must outlive it.
  std::unique_ptr<WorkerLauncher> Launcher();

  // Calls of `op` (ipc::Op) are held until Release(op) or their worker dies.
  void Hold(ipc::Op op) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ops_.insert(static_cast<uint8_t>(op));
  }
  // Answers every held call of `op` and stops holding them.
  void Release(ipc::Op op) {
    std::vector<std::function<void()>> go;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ops_.erase(static_cast<uint8_t>(op));
      for (auto& [process, worker] : workers_) {
        for (auto it = worker.held.begin(); it != worker.held.end();) {
          if (it->op == static_cast<uint8_t>(op)) {
            go.push_back(std::move(it->answer));
            it = worker.held.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
    for (auto& f : go) Post(std::move(f));
  }
  // Calls of `op` held now, over all workers.
  int HeldCalls(ipc::Op op) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (auto& [process, worker] : workers_) {
      for (auto& h : worker.held) n += h.op == static_cast<uint8_t>(op);
    }
    return n;
  }
  // Blocks until `done()` holds or 20 s passed (a hang is a failure, not a timing).
  bool WaitUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 20000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }
  // The launcher key of the running worker named `name` ("" when none).
  std::string ProcessOf(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [process, worker] : workers_) {
      if (worker.name == name && worker.running) return process;
    }
    return "";
  }
  // Kills worker `process` as SIGKILL would: its calls fail, the core hears of the exit,
  // and it restarts unless `may_restart` is false, it was stopped or restarts are off.
  void Kill(const std::string& process, bool may_restart = true) {
    bool restart = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = workers_.find(process);
      if (it == workers_.end() || !it->second.running) return;
      it->second.running = false;
      it->second.held.clear();  // their answers are never sent: the channel fails them
      restart = may_restart && it->second.wanted && !restarts_disabled_;
      if (restart) ++it->second.restarts;
    }
    Post([this, process, restart] {
      Channel* channel = ChannelOf(process);
      if (channel) channel->Down("signal 9");
      EmitExited(process, CLD_KILLED, SIGKILL, restart);
      if (restart) StartLater(process);
    });
  }
  // Replays an exit of `process` long after it was handled (a stale report).
  void ReplayExit(const std::string& process) {
    Post([this, process] { EmitExited(process, CLD_KILLED, SIGKILL, false); });
  }
  // Runs everything posted so far on the fleet's thread before returning.
  void Drain() {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    Post([&] {
      std::lock_guard<std::mutex> lock(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
  }
  // The launcher keys of the workers running now.
  std::vector<std::string> Running() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (auto& [process, worker] : workers_) {
      if (worker.running) out.push_back(process);
    }
    return out;
  }
  int Launches() {
    std::lock_guard<std::mutex> lock(mu_);
    return launches_;
  }

 private:
  class Channel;
  class Launch;
  struct Held {
    uint8_t op = 0;
    std::function<void()> answer;
  };
  struct FakeWorker {
    std::string name;
    bool running = false;
    bool wanted = true;
    uint32_t restarts = 0;
    Channel* channel = nullptr;  // owned by the core's Worker, alive while registered
    std::deque<Held> held;
  };

  // The channel of one fake worker; replies come on the fleet's thread.
  class Channel : public WorkerChannel {
   public:
    Channel(std::shared_ptr<FakeFleet> fleet, std::string process)
        : fleet_(std::move(fleet)), process_(std::move(process)) {}
    ~Channel() override { fleet_->Forget(process_, this); }
    void Call(uint8_t op, uint32_t slot, const std::vector<CallTensor>& inputs, uint64_t,
              Callback done) override {
      (void)slot;
      Result<Reply> reply = Reply{};
      if (op == static_cast<uint8_t>(ipc::Op::kLoad)) {
        reply->text = "{\"peak_bytes\": " + std::to_string(kPeakBytes) + "}";
      } else if (op == static_cast<uint8_t>(ipc::Op::kInfer)) {
        for (const auto& t : inputs) {  // echoes its inputs, renamed as outputs
          ReplyTensor out{"OUTPUT0", t.wire_dtype, t.shape,
                          std::string(static_cast<const char*>(t.data), t.bytes)};
          reply->outputs.push_back(std::move(out));
        }
      }
      const uint64_t id = next_id_++;
      std::unique_lock<std::mutex> lock(mu_);
      if (!up_) {
        lock.unlock();
        return done(Status(StatusCode::kUnavailable, "worker " + process_ + " is down"));
      }
      pending_[id] = std::move(done);
      lock.unlock();
      auto answer = [this, id, reply = std::move(reply)]() mutable {
        Answer(id, std::move(reply));
      };
      fleet_->Submit(process_, op, std::move(answer));
    }
    void OnWorkerExit(const std::string& why) override { Down(why); }
    void MarkUp() override {
      std::lock_guard<std::mutex> lock(mu_);
      up_ = true;
    }
    bool up() const override {
      std::lock_guard<std::mutex> lock(mu_);
      return up_;
    }
    uint64_t SilentMs(uint64_t, bool* starting) const override {
      *starting = false;
      return 0;
    }
    void UseEventLoop(server::EventLoop*) override {}

    // The worker died: every call in flight fails.
    void Down(const std::string& why) {
      std::map<uint64_t, Callback> failed;
      {
        std::lock_guard<std::mutex> lock(mu_);
        up_ = false;
        failed.swap(pending_);
      }
      for (auto& [id, done] : failed) {
        done(Status(StatusCode::kUnavailable, "worker " + process_ + " exited (" + why + ")"));
      }
    }

   private:
    void Answer(uint64_t id, Result<Reply> reply) {
      Callback done;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = pending_.find(id);
        if (it == pending_.end()) return;  // failed by Down already
        done = std::move(it->second);
        pending_.erase(it);
      }
      done(std::move(reply));
    }

    const std::shared_ptr<FakeFleet> fleet_;
    const std::string process_;
    std::atomic<uint64_t> next_id_{1};
    mutable std::mutex mu_;
    bool up_ = false;
    std::map<uint64_t, Callback> pending_;
  };

  // A call's answer: held, or posted at once.
  void Submit(const std::string& process, uint8_t op, std::function<void()> answer) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = workers_.find(process);
      if (it != workers_.end() && held_ops_.count(op)) {
        it->second.held.push_back({op, std::move(answer)});
        return;
      }
    }
    Post(std::move(answer));
  }
  Channel* ChannelOf(const std::string& process) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(process);
    return it == workers_.end() ? nullptr : it->second.channel;
  }
  void Forget(const std::string& process, Channel* channel) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(process);
    if (it != workers_.end() && it->second.channel == channel) it->second.channel = nullptr;
  }
  // Brings `process` up on the fleet's thread, as a restart after a short backoff would.
  void StartLater(const std::string& process) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = workers_.find(process);
      if (it == workers_.end() || !it->second.wanted || restarts_disabled_) return;
      it->second.running = true;
      ++launches_;
    }
    Post([this, process] { EmitStarted(process); });
  }
  // The core's callbacks, unless its launcher is gone.
  void EmitStarted(const std::string& process) {
    WorkerLauncher::Events events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      events = events_;
    }
    if (events.started) events.started(process, -1);
  }
  void EmitExited(const std::string& process, int code, int status, bool restart) {
    WorkerLauncher::Events events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      events = events_;
    }
    if (events.exited) events.exited(process, code, status, restart);
  }
  void Post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(f));
    }
    cv_.notify_all();
  }
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto f = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      f();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::map<std::string, FakeWorker> workers_;
  std::set<uint8_t> held_ops_;
  bool restarts_disabled_ = false;
  int launches_ = 0;
  WorkerLauncher::Events events_;
  std::thread thread_;

  friend class FleetLauncher;
};

// The launcher a ModelGrid owns; every call goes to the shared fleet.
class FleetLauncher : public WorkerLauncher {
 public:
  explicit FleetLauncher(std::shared_ptr<FakeFleet> fleet) : fleet_(std::move(fleet)) {}
  // The core hears nothing more once this returns.
  ~FleetLauncher() override {
    {
      std::lock_guard<std::mutex> lock(fleet_->mu_);
      fleet_->events_ = {};
    }
    fleet_->Drain();
  }
  void SetEvents(Events events) override {
    std::lock_guard<std::mutex> lock(fleet_->mu_);
    fleet_->events_ = std::move(events);
  }
  Result<std::unique_ptr<WorkerChannel>> Connect(const WorkerSpec& spec) override {
    auto channel = std::make_unique<FakeFleet::Channel>(fleet_, spec.process);
    std::lock_guard<std::mutex> lock(fleet_->mu_);
    FakeFleet::FakeWorker& w = fleet_->workers_[spec.process];
    w.name = spec.name;
    w.channel = channel.get();
    return std::unique_ptr<WorkerChannel>(std::move(channel));
  }
  Status Launch(const WorkerSpec& spec, WorkerChannel&) override {
    fleet_->StartLater(spec.process);
    return Status::Ok();
  }
  Status Stop(const std::string& process, uint32_t) override {
    bool was_running = false;
    {
      std::lock_guard<std::mutex> lock(fleet_->mu_);
      auto it = fleet_->workers_.find(process);
      if (it == fleet_->workers_.end()) return NotFound("no worker " + process);
      it->second.wanted = false;
      was_running = it->second.running;
      it->second.running = false;
      it->second.held.clear();
    }
    if (was_running) {
      FakeFleet* fleet = fleet_.get();
      fleet_->Post([fleet, process] {
        if (auto* channel = fleet->ChannelOf(process)) channel->Down("stopped");
        fleet->EmitExited(process, CLD_EXITED, 0, false);
      });
      fleet_->Drain();  // as ProcessManager::Stop, returns once the exit was handled
    }
    return Status::Ok();
  }
  Status Kill(const std::string& process) override {
    fleet_->Kill(process);
    return Status::Ok();
  }
  void DisableRestarts() override {
    std::lock_guard<std::mutex> lock(fleet_->mu_);
    fleet_->restarts_disabled_ = true;
  }
  pid_t Pid(const std::string&) const override { return -1; }
  uint32_t Restarts(const std::string& process) const override {
    std::lock_guard<std::mutex> lock(fleet_->mu_);
    auto it = fleet_->workers_.find(process);
    return it == fleet_->workers_.end() ? 0 : it->second.restarts;
  }
  std::vector<std::string> Processes() const override {
    std::lock_guard<std::mutex> lock(fleet_->mu_);
    std::vector<std::string> out;
    for (auto& [process, w] : fleet_->workers_) {
      if (w.wanted) out.push_back(process);
    }
    return out;
  }

 private:
  std::shared_ptr<FakeFleet> fleet_;
};

inline std::unique_ptr<WorkerLauncher> FakeFleet::Launcher() {
  return std::make_unique<FleetLauncher>(shared_from_this());
}

}  // namespace modelgrid::testing
