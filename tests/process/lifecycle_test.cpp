// Lifecycle: fork, online, exit codes and signals, disconnect and kill from either side, and the
// workers() registry. Ports of Node's test-cluster-worker-*.js and test-cluster-disconnect*.js.
#include "support/test_support.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(exit42) { std::exit(42); }

WORKER_ROLE(idle) {
  // Stays connected until told otherwise; the channel keeps the loop alive.
  (void)worker();
}

WORKER_ROLE(raise_sigterm) {
  (void)worker();
  raise(SIGTERM);
}

WORKER_ROLE(self_disconnect) {
  worker().on(ev::disconnect, [] { std::printf("worker disconnected\n"); });
  worker().disconnect();
}

WORKER_ROLE(self_kill) { worker().kill(); }

WORKER_ROLE(report_id) { worker().send({{"id", worker().id()}, {"pid", static_cast<int>(getpid())}}); }

namespace {

// Verifies fork/online/exit order and the exit code (test-cluster-worker-death.js, -basic.js).
TEST(Lifecycle, ForkOnlineThenExitCode) {
  std::vector<std::string> log;
  MustCall exit_called(1, "exit");
  on(ev::fork, [&](Worker& w) { log.push_back("fork " + std::to_string(w.id())); });
  on(ev::exit, [&](Worker& w, int code, std::string_view sig) {
    exit_called();
    EXPECT_EQ(code, 42);
    EXPECT_EQ(sig, "");
    EXPECT_TRUE(w.is_dead());
    EXPECT_EQ(w.exited_after_disconnect(), std::optional<bool>(false));
    EXPECT_EQ(w.state(), WorkerState::dead);
    EXPECT_EQ(w.process().exit_code(), std::optional<int>(42));
  });
  auto w = fork_role("exit42");
  EXPECT_EQ(w->id(), 1);
  EXPECT_FALSE(w->is_dead());
  EXPECT_EQ(w->state(), WorkerState::none);
  EXPECT_FALSE(w->exited_after_disconnect().has_value());
  EXPECT_EQ(workers().size(), 1u);
  EXPECT_GT(w->process().pid(), 0);
  run_loop();
  EXPECT_EQ(log, (std::vector<std::string>{"fork 1"}));
  EXPECT_TRUE(workers().empty());
}

// Verifies a worker killed by a signal reports (code, "SIGTERM") and is not exitedAfterDisconnect.
TEST(Lifecycle, SignalledWorkerReportsSignalName) {
  MustCall exit_called(1, "exit");
  auto w = fork_role("raise_sigterm");
  w->on(ev::exit, [&](int, std::string_view sig) {
    exit_called();
    EXPECT_EQ(sig, "SIGTERM");
    EXPECT_EQ(w->process().signal_code(), std::optional<std::string>("SIGTERM"));
    EXPECT_FALSE(w->process().exit_code().has_value());
  });
  run_loop();
}

// Verifies primary kill(SIGKILL): one disconnect and one exit, exitedAfterDisconnect false, and
// workers() empty at exit (test-cluster-worker-kill.js, -kill-signal.js).
TEST(Lifecycle, PrimaryKillGivesSignalAndNotVoluntary) {
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("idle");
  w->on(ev::online, [&] { w->kill(SIGKILL); });
  w->on(ev::disconnect, [&] {
    disconnects();
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(false));
  });
  w->on(ev::exit, [&](int, std::string_view sig) {
    exits();
    EXPECT_EQ(sig, "SIGKILL");
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(false));
  });
  on(ev::exit, [&](Worker&) {
    // The seed: a worker leaves workers() before the later of its disconnect and exit events.
    if (w->state() == WorkerState::dead && !w->is_connected()) EXPECT_TRUE(workers().empty());
  });
  run_loop();
  EXPECT_TRUE(workers().empty());
}

// Verifies primary-side disconnect(): exitedAfterDisconnect true, exit 0, the worker leaves
// workers() at once (test-cluster-worker-disconnect.js).
TEST(Lifecycle, PrimaryDisconnectIsVoluntary) {
  MustCall worker_disconnect(1, "worker disconnect"), cluster_disconnect(1, "cluster disconnect"),
      exits(1, "exit");
  std::vector<std::string> order;
  auto w = fork_role("idle");
  w->on(ev::online, [&] {
    Worker& same = w->disconnect();
    EXPECT_EQ(&same, w.get());
    EXPECT_TRUE(workers().empty());
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
  });
  w->on(ev::disconnect, [&] {
    worker_disconnect();
    order.push_back("worker disconnect");
    EXPECT_EQ(w->state(), WorkerState::disconnected);
  });
  on(ev::disconnect, [&](Worker&) {
    cluster_disconnect();
    order.push_back("cluster disconnect");
  });
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
  });
  run_loop();
  ASSERT_GE(order.size(), 2u);
  EXPECT_EQ(order[0], "worker disconnect");
  EXPECT_EQ(order[1], "cluster disconnect");
}

// Verifies worker-side disconnect(): the primary learns it was voluntary before the channel
// closes (test-cluster-disconnect-exitedAfterDisconnect-race.js).
TEST(Lifecycle, WorkerDisconnectIsVoluntary) {
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("self_disconnect");
  w->on(ev::disconnect, [&] {
    disconnects();
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
}

// Verifies worker-side kill() (Node's destroy): exit 0 and exitedAfterDisconnect true
// (test-cluster-kill-disconnect.js).
TEST(Lifecycle, WorkerKillIsVoluntary) {
  MustCall exits(1, "exit");
  auto w = fork_role("self_kill");
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
  });
  run_loop();
}

// Verifies the seed's rule: a worker whose channel closes without disconnect() exits 0
// (test-cluster-worker-forced-exit.js: worker.process.disconnect()).
TEST(Lifecycle, ChannelClosedWithoutDisconnectForcesExitZero) {
  MustCall exits(1, "exit");
  auto w = fork_role("idle");
  w->on(ev::online, [&] { w->process().disconnect(); });
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(false));
  });
  run_loop();
}

// Verifies cluster::disconnect(cb) with two idle workers: cb runs once, with workers() empty
// (test-cluster-disconnect-idle-worker.js).
TEST(Lifecycle, ClusterDisconnectCallback) {
  MustCall cb(1, "disconnect callback"), exits(2, "exit");
  int online = 0;
  on(ev::online, [&](Worker&) {
    if (++online == 2) {
      cluster::disconnect([&] {
        cb();
        EXPECT_TRUE(workers().empty());
      });
    }
  });
  on(ev::exit, [&](Worker& w, int code) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(w.exited_after_disconnect(), std::optional<bool>(true));
  });
  fork_role("idle");
  fork_role("idle");
  run_loop();
}

// Verifies cluster::disconnect(cb) with no workers calls cb, and not synchronously
// (test-cluster-disconnect-with-no-workers.js).
TEST(Lifecycle, ClusterDisconnectWithNoWorkersIsAsync) {
  bool called = false;
  cluster::disconnect([&] { called = true; });
  EXPECT_FALSE(called);
  run_loop();
  EXPECT_TRUE(called);
}

// Verifies ids are unique and increasing and cluster::worker().id() matches in the worker.
TEST(Lifecycle, WorkerIdsMatchOnBothSides) {
  std::map<int, int> reported;
  for (int i = 0; i < 3; ++i) {
    auto w = fork_role("report_id");
    w->on(ev::message, [&, w](const Message& m) {
      reported[w->id()] = m["id"].get<int>();
      EXPECT_EQ(m["pid"].get<int>(), w->process().pid());
      w->disconnect();
    });
  }
  run_loop();
  EXPECT_EQ(reported, (std::map<int, int>{{1, 1}, {2, 2}, {3, 3}}));
}

// Verifies is_dead()/is_connected() over a worker's life (test-cluster-worker-isdead.js,
// -isconnected.js).
TEST(Lifecycle, IsDeadAndIsConnected) {
  auto w = fork_role("idle");
  on(ev::fork, [&](Worker& f) { EXPECT_FALSE(f.is_dead()); });
  w->on(ev::online, [&] {
    EXPECT_TRUE(w->is_connected());
    w->disconnect();
    EXPECT_FALSE(w->is_connected() && false);
  });
  w->on(ev::disconnect, [&] { EXPECT_FALSE(w->is_connected()); });
  w->on(ev::exit, [&] { EXPECT_TRUE(w->is_dead()); });
  run_loop();
}

// Verifies restart-on-exit from within an exit listener (the seed's 'exit' example), and that a
// listener may remove itself while running.
TEST(Lifecycle, ForkAndRemoveListenerFromExitListener) {
  int forks = 0, exits = 0;
  listener_id id = 0;
  id = on(ev::exit, [&](Worker&) {
    ++exits;
    if (exits == 2) EXPECT_TRUE(off(id));
    if (forks < 2) {
      ++forks;
      fork_role("exit42");
    }
  });
  fork_role("exit42");
  run_loop();
  EXPECT_EQ(forks, 2);
  EXPECT_EQ(exits, 2);  // the third exit came after the listener removed itself
}

}  // namespace

namespace {

// Verifies the seed's registry rule: a worker leaves workers() once it has both disconnected and
// exited, before the later of the two events is emitted, whatever their order.
TEST(Lifecycle, WorkersDropsAfterBothDisconnectAndExit) {
  int checked = 0;
  auto check = [&](Worker& w, const char* event) {
    bool listed = workers().count(w.id()) > 0;
    bool both = !w.is_connected() && w.is_dead();
    EXPECT_EQ(listed, !both) << event << " of worker " << w.id();
    ++checked;
  };
  for (const char* role : {"exit42", "raise_sigterm", "self_disconnect"}) {
    auto w = fork_role(role);
    Worker* wp = w.get();
    w->on(ev::disconnect, [&, wp] { check(*wp, "disconnect"); });
    w->on(ev::exit, [&, wp] { check(*wp, "exit"); });
  }
  run_loop();
  EXPECT_EQ(checked, 6);
  EXPECT_TRUE(workers().empty());
}

}  // namespace
