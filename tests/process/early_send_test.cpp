// A worker's online, and what it sends before cluster::run(), leave the process at once, as in
// Node (whose worker sends online during bootstrap): a worker busy before its loop runs is still
// seen online, and its early messages arrive in order (test-cluster-kill-infinite-loop.js).
#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "support/test_support.hpp"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>

using namespace cluster;
using namespace testing_support;

namespace {

// Busy until killed, the primary gone, or 30 s (a bound for a test that went wrong).
void spin_without_loop() {
  const pid_t parent = getppid();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (getppid() == parent && std::chrono::steady_clock::now() < end) {
  }
  std::_Exit(9);
}

}  // namespace

WORKER_ROLE(spin_before_run) {
  (void)worker();
  spin_without_loop();
}

WORKER_ROLE(send_then_spin) {
  for (int i = 0; i < 100; ++i) worker().send({{"n", i}, {"pad", std::string(static_cast<std::size_t>(i) * 10, 'x')}});
  spin_without_loop();
}

namespace {

// Verifies a worker stuck before its loop runs is seen online, and kill() ends it with SIGTERM
// (Node: test-cluster-kill-infinite-loop.js).
TEST(EarlySend, OnlineLeavesBeforeTheLoopRuns) {
  MustCall online(1, "online"), exits(1, "exit");
  auto w = fork_role("spin_before_run");
  w->on(ev::online, [&, w] {
    online();
    w->process().kill(SIGTERM);
  });
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "SIGTERM");
  });
  run_loop();
}

void expect_early_messages_in_order(bool rings) {
  MustCall online(1, "online"), exits(1, "exit");
  int next = 0;
  auto w = fork_role("send_then_spin");
  EXPECT_EQ(detail::WorkerAccess::target(*w)->channel().uses_rings(), rings);
  w->on(ev::online, [&] {
    online();
    EXPECT_EQ(next, 0) << "online comes before the worker's messages";
  });
  w->on(ev::message, [&, w](const Message& m) {
    EXPECT_EQ(m["n"], next);
    EXPECT_EQ(m["pad"].get<std::string>().size(), static_cast<std::size_t>(next) * 10);
    if (++next == 100) w->process().kill(SIGTERM);
  });
  w->on(ev::exit, [&](int, std::string_view sig) {
    exits();
    EXPECT_EQ(sig, "SIGTERM");
  });
  run_loop();
  EXPECT_EQ(next, 100);
}

// Verifies messages sent before cluster::run() arrive, in order, from a worker whose loop never
// runs.
TEST(EarlySend, MessagesBeforeRunLeaveAtOnce) { expect_early_messages_in_order(false); }

// Verifies the same over the busy-poll shared-memory rings (a worker of this same program).
TEST(EarlySend, MessagesBeforeRunLeaveAtOnceOverRings) {
  Settings s;
  s.ipc_busy_poll_us = 200;
  setup_primary(s);
  expect_early_messages_in_order(true);
}

}  // namespace
