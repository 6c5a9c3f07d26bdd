// Helpers for process tests: the test binary is its own worker (libuv's helper trick). A worker
// runs the role named by CPPCLUSTER_TEST_ROLE, registered with WORKER_ROLE.
#pragma once

#include <cluster/cluster.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

namespace testing_support {

using RoleFn = void (*)();

// Registers a role; used by WORKER_ROLE.
struct RoleRegistrar {
  RoleRegistrar(const char* name, RoleFn fn);
};

// Runs the role named in the environment; returns false if this process is not a test worker.
bool run_worker_role_if_any();

// Forks a worker of this binary that runs role; env entries are added.
std::shared_ptr<cluster::Worker> fork_role(const std::string& role, cluster::Env env = {});

// Runs the loop until it has nothing left to do. After timeout (a deadlock guard, never a pass
// condition) it fails the test, kills every worker and stops.
void run_loop(std::chrono::seconds timeout = std::chrono::seconds(45));

// In a worker: writes raw bytes on the channel (fd 3), bypassing the library's framing; exits 7
// if the channel is gone.
void write_raw(const std::string& bytes);

// Runs fn on the loop after ms milliseconds (for tests that must act on a stuck peer).
void after(int ms, std::function<void()> fn);

// Node's common.mustCall: the returned counter must reach n by the end of the test.
class MustCall {
 public:
  MustCall(int expected, std::string what) : expected_(expected), what_(std::move(what)) {}
  ~MustCall() { EXPECT_EQ(count_, expected_) << what_; }
  void operator()() { ++count_; }
  int count() const { return count_; }

 private:
  int expected_;
  int count_ = 0;
  std::string what_;
};

// The directory of tests/ sources (scripts for node).
std::string tests_dir();
// This test binary's path.
std::string self_exe();
// True when node is on PATH.
bool have_node();

}  // namespace testing_support

#define WORKER_ROLE(name)                                                                \
  static void worker_role_##name();                                                      \
  static ::testing_support::RoleRegistrar worker_role_reg_##name(#name, worker_role_##name); \
  static void worker_role_##name()
