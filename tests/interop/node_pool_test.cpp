// cluster::Pool with unmodified Node.js workers (exec_path node): readiness by their
// {"cmd":"CPPCLUSTER_READY"} message, respawn, rolling reload and graceful stop work for them too,
// and they see the retiring word as a plain message.
#include "../process/pool_support.hpp"

#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <set>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

// Under tests/interop/node_primary_heartbeat.js: says ready, counts errors (an answer from Node
// to the heartbeat act would be one), and on {bye} reports them and disconnects.
WORKER_ROLE(heartbeat_under_node_primary) {
  static int errors = 0;
  worker().on(ev::error, [] { ++errors; });
  worker().send({{"ready", true}});
  worker().on(ev::message, [](const Message& m) {
    if (!m.contains("bye")) return;
    worker().send({{"bye", true}, {"errors", errors}});
    worker().disconnect();
  });
}

namespace {

// Verifies a pool of 2 Node workers: one SIGKILLed is respawned, a reload replaces both (each old
// one told it is retiring), a request is answered by a new one, and stop() kills nobody.
TEST(NodePool, RespawnReloadAndStopWithNodeWorkers) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_pool_worker.js", .args = {}});
  PoolOptions o;
  o.workers = 2;
  o.ready_servers = 0;  // only the worker's own message counts
  o.backoff_initial = 50ms;
  Pool pool(o);
  int ready = 0, retiring_acks = 0, port = 0;
  std::set<int> before_reload;
  MustCall respawned(1, "respawn scheduled"), reloaded(1, "reload done"), served(1, "answer"),
      stopped(1, "stop callback");
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("retiring")) ++retiring_acks;
  });
  pool.on(ev::respawn_scheduled, [&] { respawned(); });
  pool.on(ev::ready, [&](Worker&) {
    ++ready;
    if (ready == 2) {
      workers().at(pool.snapshot().back().id)->kill(SIGKILL);
    } else if (ready == 3) {
      for (const auto& s : pool.snapshot()) before_reload.insert(s.id);
      pool.reload();
    }
  });
  pool.on(ev::reload, [&](std::error_code ec) {
    reloaded();
    EXPECT_FALSE(ec) << ec.message();
    std::set<int> new_pids;
    for (const auto& s : pool.snapshot()) {
      if (s.state == PoolWorkerState::retiring) continue;
      EXPECT_EQ(before_reload.count(s.id), 0u);
      new_pids.insert(s.pid);
    }
    pool_test::fetch(port, "", [&, new_pids](const std::string& body) {
      served();
      bool from_new = false;
      for (int pid : new_pids) from_new = from_new || body == pool_test::answer_of(pid);
      EXPECT_TRUE(from_new) << body;
      pool.stop(10s, [&](const StopResult& r) {
        stopped();
        EXPECT_TRUE(r.killed.empty());
      });
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 5);
  EXPECT_GE(retiring_acks, 2);
  events().remove_all_listeners();
}

// Verifies heartbeats leave Node workers alone: they never say they answer (snapshot), so over
// many timeouts none is pinged, found hung or killed, and both still serve and stop gracefully.
TEST(NodePool, HeartbeatsLeaveNodeWorkersAlone) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_pool_worker.js", .args = {}});
  PoolOptions o;
  o.workers = 2;
  o.ready_servers = 0;
  o.heartbeat_interval = 20ms;
  o.heartbeat_timeout = 200ms;
  o.kill_grace = 100ms;
  Pool pool(o);
  int ready = 0, port = 0, hangs = 0, exits_before_stop = 0;
  bool stopping = false;
  MustCall served(1, "answer"), stopped(1, "stop callback");
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  on(ev::exit, [&](Worker&) { exits_before_stop += stopping ? 0 : 1; });
  pool.on(ev::hang_killed, [&](Worker&) { ++hangs; });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    after(1500, [&] {
      for (const auto& s : pool.snapshot()) {
        EXPECT_FALSE(s.answers_heartbeat) << "worker " << s.id;
        EXPECT_EQ(s.state, PoolWorkerState::ready);
      }
      pool_test::fetch(port, "", [&](const std::string& body) {
        served();
        EXPECT_EQ(body.rfind("pid:", 0), 0u) << body;
        stopping = true;
        pool.stop(10s, [&](const StopResult& r) {
          stopped();
          EXPECT_TRUE(r.killed.empty());
        });
      });
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(hangs, 0);
  EXPECT_EQ(exits_before_stop, 0);
  setup_primary({.exec_path = "", .exec = self_exe()});
  events().remove_all_listeners();
}

// Verifies a Node.js primary tolerates a C++ worker forked with heartbeats asked for: the
// worker's announcement and its answer to a ping reach Node as internal messages that Node
// ignores (no reply, no error, no 'message'), and the worker leaves with exit code 0.
TEST(NodePool, NodePrimaryIgnoresHeartbeatActs) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  const std::string cmd = "timeout 60 node " + tests_dir() + "/interop/node_primary_heartbeat.js " + self_exe();
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

}  // namespace
