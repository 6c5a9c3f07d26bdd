// Disconnect orders and the raw channel API: worker.disconnect() of a listening worker always
// emits disconnect before exit, process_disconnect() (Node's process.disconnect() in a worker),
// worker.process().disconnect() (test-cluster-worker-forced-exit.js), and channel ref/unref.
#include "support/test_support.hpp"

#include <cluster/net.hpp>
#include <uv.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(conf_listen_zero) {
  static auto server = net::create_server();
  server->listen(0);
}

WORKER_ROLE(conf_process_disconnect_after_listen) {
  static auto server = net::create_server();
  server->listen(0, [] { process_disconnect(); });
}

WORKER_ROLE(conf_exit_42_on_disconnect) {
  // A worker that leaves with its own code once disconnected (unless the cluster forces 0).
  worker().on(ev::disconnect, [] { testing_support::after(10, [] { std::exit(42); }); });
}

WORKER_ROLE(conf_unref_channel_idle) {
  // Nothing else keeps the loop: with the channel unref'd the worker ends by itself.
  worker().channel().unref();
}

namespace {

// Verifies that the primary's disconnect() of a listening worker emits disconnect before exit,
// every time, over 50 workers one after another (Node: test-cluster-worker-disconnect.js).
TEST(ConformanceDisconnect, PrimaryDisconnectOfListeningWorkerOrdersDisconnectBeforeExit) {
  constexpr int rounds = 50;
  int done = 0;
  std::vector<std::string> bad;
  std::function<void()> next = [&] {
    auto w = fork_role("conf_listen_zero");
    auto order = std::make_shared<std::string>();
    w->on(ev::listening, [w] { w->disconnect(); });
    w->on(ev::disconnect, [order] { *order += "d"; });
    w->on(ev::exit, [&, order, w](int code, std::string_view sig) {
      *order += "e";
      if (*order != "de" || code != 0 || !sig.empty()) {
        bad.push_back("worker " + std::to_string(w->id()) + ": " + *order + " code " + std::to_string(code));
      }
      if (++done < rounds) next();
    });
  };
  next();
  run_loop(std::chrono::seconds(80));
  EXPECT_EQ(done, rounds);
  EXPECT_TRUE(bad.empty()) << bad.front();
}

// Verifies that process_disconnect() in a worker closes the channel: the primary sees
// disconnect (not voluntary) then exit 0 (Node: test-cluster-process-disconnect.js).
TEST(ConformanceDisconnect, ProcessDisconnectInWorkerExitsZero) {
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  std::string order;
  auto w = fork_role("conf_process_disconnect_after_listen");
  w->on(ev::disconnect, [&] {
    disconnects();
    order += "d";
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(false));
  });
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    order += "e";
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
  });
  run_loop();
  EXPECT_EQ(order, "de");
}

// Verifies disconnect() lets the worker exit with its own code, while process().disconnect()
// (the raw channel) makes the cluster exit it with 0 (Node: test-cluster-worker-forced-exit.js).
TEST(ConformanceDisconnect, RawChannelDisconnectForcesExitZero) {
  MustCall exits(2, "exit");
  auto unforced = fork_role("conf_exit_42_on_disconnect");
  unforced->on(ev::online, [&] { unforced->disconnect(); });
  unforced->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 42);
  });
  auto forced = fork_role("conf_exit_42_on_disconnect");
  forced->on(ev::online, [&] { forced->process().disconnect(); });
  forced->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
}

// Verifies an unref'd channel lets an idle worker end by itself, exit code 0 (Node:
// process.channel.unref(), test-cluster-rr-handle-ref-unref.js).
TEST(ConformanceDisconnect, UnrefdChannelLetsIdleWorkerExit) {
  MustCall exits(1, "exit");
  auto w = fork_role("conf_unref_channel_idle");
  w->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
  });
  run_loop();
}

// Verifies the primary's unref() of a worker's channel drops the channel's hold on the loop and
// ref() restores it (Node: worker.process.channel.unref()/ref()).
TEST(ConformanceDisconnect, PrimaryChannelUnrefDropsLoopReference) {
  auto w = fork_role("idle_until_told");
  const unsigned before = cluster::loop()->active_handles;
  w->channel().unref();
  EXPECT_EQ(cluster::loop()->active_handles, before - 1);
  w->channel().unref();
  EXPECT_EQ(cluster::loop()->active_handles, before - 1);
  w->channel().ref();
  EXPECT_EQ(cluster::loop()->active_handles, before);
  MustCall exits(1, "exit");
  w->on(ev::online, [w] { w->kill(); });
  w->on(ev::exit, [&] { exits(); });
  run_loop();
}

}  // namespace

WORKER_ROLE(idle_until_told) { (void)worker(); }
