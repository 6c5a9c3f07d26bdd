// cluster::Pool with unmodified Node.js workers (exec_path node): readiness by their
// {"cmd":"CPPCLUSTER_READY"} message, respawn, rolling reload and graceful stop work for them too,
// and they see the retiring word as a plain message.
#include "../process/pool_support.hpp"

#include <csignal>
#include <set>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

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

}  // namespace
