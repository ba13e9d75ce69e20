#include "serve/process_manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "support/affinity.h"
#include "support/serve_process.h"

namespace modelgrid {
namespace {

// Waits (bounded) until `done` holds; the bound only guards against hangs.
template <typename F>
bool WaitFor(F done, int max_ms = 20000) {
  for (int i = 0; i < max_ms / 10; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

ProcessManager::CommandFactory Sleeper() {
  return [](const std::string&) -> Result<WorkerCommand> {
    return WorkerCommand{{"/bin/sleep", "600"}, {}, {}, {}};
  };
}

TEST(ProcessManager, RestartsAKilledWorkerAndReportsTheExit) {
  std::atomic<int> exits{0}, killed{0};
  RestartPolicy policy;
  policy.initial_backoff_ms = 10;
  ProcessManager pm(policy, [&](const std::string&, pid_t, int code, int status, bool restart) {
    exits++;
    if (code == CLD_KILLED && status == SIGKILL && restart) killed++;
  });
  auto pid = pm.Start("w", Sleeper());
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  ASSERT_TRUE(pm.Kill("w").ok());
  ASSERT_TRUE(WaitFor([&] { return pm.Restarts("w") == 1 && pm.Pid("w") > 0; }));
  EXPECT_NE(pm.Pid("w"), *pid);
  EXPECT_EQ(exits.load(), 1);
  EXPECT_EQ(killed.load(), 1);
  ASSERT_TRUE(pm.Stop("w", 2000).ok());
  EXPECT_EQ(pm.Pid("w"), -1);
  EXPECT_EQ(::kill(*pid, 0), -1);  // reaped, not a zombie of ours
}

TEST(ProcessManager, StopIsFinalAndUnknownNamesAreErrors) {
  std::atomic<int> restarts_scheduled{0};
  ProcessManager pm({}, [&](const std::string&, pid_t, int, int, bool restart) {
    restarts_scheduled += restart;
  });
  ASSERT_TRUE(pm.Start("a", Sleeper()).ok());
  EXPECT_FALSE(pm.Start("a", Sleeper()).ok());
  ASSERT_TRUE(pm.Stop("a", 2000).ok());
  EXPECT_EQ(restarts_scheduled.load(), 0);
  EXPECT_EQ(pm.Stop("a", 10).code(), StatusCode::kNotFound);
  EXPECT_EQ(pm.Kill("nope").code(), StatusCode::kNotFound);
}

TEST(ProcessManager, FailingFactoryIsReported) {
  ProcessManager pm({}, nullptr);
  auto r = pm.Start(
      "x", [](const std::string&) -> Result<WorkerCommand> { return Internal("no segment"); });
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no segment"), std::string::npos);
}

TEST(ProcessManager, BackoffGrowsWhileAWorkerKeepsCrashing) {
  RestartPolicy policy;
  policy.initial_backoff_ms = 5;
  policy.max_backoff_ms = 40;
  ProcessManager pm(policy, nullptr);
  ASSERT_TRUE(pm.Start("crash", [](const std::string&) -> Result<WorkerCommand> {
                  return WorkerCommand{{"/bin/false"}, {}, {}, {}};
                }).ok());
  ASSERT_TRUE(WaitFor([&] { return pm.Restarts("crash") >= 4; }));
  ASSERT_TRUE(pm.Stop("crash", 1000).ok());
}

using testing::ReadWholeFile;

TEST(ProcessManager, AHostBindingHoldsFromTheChildsFirstInstructionAndOnRestart) {
  const std::vector<int> cpus = testing::AllowedCpus();
  ASSERT_FALSE(cpus.empty());
  const int cpu = cpus.front();
  RestartPolicy policy;
  policy.initial_backoff_ms = 10;
  ProcessManager pm(policy, nullptr);
  auto pid = pm.Start("w", [cpu](const std::string&) -> Result<WorkerCommand> {
    WorkerCommand command{{"/bin/sleep", "600"}, {}, {}, {}};
    command.binding.cpus = {cpu};
    return command;
  });
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  // Once the child runs the program (its name is sleep's), the binding must already hold.
  const std::string want = "Cpus_allowed_list:\t" + std::to_string(cpu) + "\n";
  auto bound_once_running = [&want](pid_t p) {
    const std::string proc = "/proc/" + std::to_string(p);
    if (!WaitFor([&] { return ReadWholeFile(proc + "/comm") == "sleep\n"; })) return false;
    return ReadWholeFile(proc + "/status").find(want) != std::string::npos;
  };
  EXPECT_TRUE(bound_once_running(*pid));
  ASSERT_TRUE(pm.Kill("w").ok());
  ASSERT_TRUE(WaitFor([&] { return pm.Restarts("w") == 1 && pm.Pid("w") > 0; }));
  EXPECT_TRUE(bound_once_running(pm.Pid("w")));
  ASSERT_TRUE(pm.Stop("w", 2000).ok());
}

TEST(ProcessManager, ANumaNodeBindsTheChildsMemory) {
  // The kernel may refuse set_mempolicy (a seccomp filter); probe it in a throwaway child.
  const pid_t probe = ::fork();
  ASSERT_GE(probe, 0);
  if (probe == 0) {
    HostBinding node0;
    node0.numa_node = 0;
    const char* call = nullptr;
    ::_exit(PreparedHostBinding(node0).Apply(&call) == 0 ? 0 : 1);
  }
  int probe_status = 0;
  ::waitpid(probe, &probe_status, 0);
  if (!WIFEXITED(probe_status) || WEXITSTATUS(probe_status) != 0) {
    GTEST_SKIP() << "SKIPPED: this kernel refuses set_mempolicy(MPOL_BIND, node 0) here, so "
                    "numa-node cannot be checked on this machine";
  }
  ProcessManager pm({}, nullptr);
  auto pid = pm.Start("w", [](const std::string&) -> Result<WorkerCommand> {
    WorkerCommand command{{"/bin/sleep", "600"}, {}, {}, {}};
    command.binding.numa_node = 0;
    return command;
  });
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  // Every mapping of the exec'd program follows the process's policy.
  const std::string proc = "/proc/" + std::to_string(*pid);
  ASSERT_TRUE(WaitFor([&] { return ReadWholeFile(proc + "/comm") == "sleep\n"; }));
  const std::string maps = ReadWholeFile(proc + "/numa_maps");
  EXPECT_NE(maps.find(" bind:0 "), std::string::npos) << maps;
  ASSERT_TRUE(pm.Stop("w", 2000).ok());
}

TEST(ProcessManager, ABindingTheKernelRefusesEndsTheChildWithItsOwnCode) {
  std::atomic<int> refused{0};
  RestartPolicy policy;
  policy.restart = false;
  ProcessManager pm(policy, [&](const std::string&, pid_t, int code, int status, bool) {
    if (code == CLD_EXITED && status == kBindingFailedExitCode) refused++;
  });
  // Core 4095 is valid syntax and on no machine this runs on: sched_setaffinity says EINVAL.
  ASSERT_TRUE(pm.Start("w", [](const std::string&) -> Result<WorkerCommand> {
                  WorkerCommand command{{"/bin/sleep", "600"}, {}, {}, {}};
                  command.binding.cpus = {4095};
                  return command;
                }).ok());
  ASSERT_TRUE(WaitFor([&] { return refused.load() == 1; }));
}

TEST(ProcessManager, WorkersDieWithTheirParent) {
  // A child process owns a manager with one worker, then is killed with SIGKILL: the
  // worker must exit too (PR_SET_PDEATHSIG).
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(fds[0]);
    ProcessManager pm({}, nullptr);
    auto pid = pm.Start("w", Sleeper());
    const pid_t worker = pid.ok() ? *pid : -1;
    [[maybe_unused]] ssize_t n = ::write(fds[1], &worker, sizeof worker);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  pid_t worker = -1;
  ASSERT_EQ(::read(fds[0], &worker, sizeof worker), static_cast<ssize_t>(sizeof worker));
  ::close(fds[0]);
  ASSERT_GT(worker, 0);
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  // The orphaned worker is reparented and reaped by init (or stays a zombie of a
  // subreaper); either way it must stop running.
  EXPECT_TRUE(WaitFor([&] {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", worker);
    FILE* f = std::fopen(path, "r");
    if (!f) return true;
    char state = 0;
    [[maybe_unused]] int r = std::fscanf(f, "%*d %*s %c", &state);
    std::fclose(f);
    return state == 'Z' || state == 'X';
  }));
}

}  // namespace
}  // namespace modelgrid
