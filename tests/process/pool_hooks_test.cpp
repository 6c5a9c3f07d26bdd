// cluster::Pool, the parts a supervisor of other programs needs and connection recycling:
// recycling after max_connections handed-off connections under load (ready-then-retire, none
// lost), the snapshot's connection figures, retire_signal for a worker that ignores its
// disconnect, and mark_ready() for readiness the pool cannot see.
#include "pool_support.hpp"

#include <cluster/scheduler.hpp>

#include <csignal>
#include <set>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

// Answers every connection with its pid and closes it.
WORKER_ROLE(pool_hooks_http) {
  static const std::string answer = pool_test::answer_of(getpid());
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end(answer); });
  server->listen(0, "127.0.0.1");
}

// Never says ready and never leaves by itself: its loop is kept alive by a timer, so a
// disconnect does not end it (a program that does not speak the cluster protocol behaves so).
WORKER_ROLE(pool_hooks_deaf) {
  set_interval([] {}, 1000ms);
}

namespace {

// Verifies max_connections recycles each worker once it accepted that many connections, under
// connection-per-request load: ready-then-retire (never below 2 ready), reason connections,
// nothing counted as a crash, the snapshot's figures add up, and not one request fails.
TEST(PoolHooks, ConnectionRecycleUnderLoadLosesNoRequest) {
  auto o = pool_test::options(2, "pool_hooks_http");
  o.max_connections = 300;
  o.recycle_jitter = 0;
  o.health_interval = 50ms;
  Pool pool(o);
  std::unique_ptr<storm::Client> client;
  int ready = 0, port = 0, respawns = 0, recycles = 0;
  std::set<int> recycled_ids;
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  pool.on(ev::respawn_scheduled, [&] { ++respawns; });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    for (const auto& s : pool.snapshot()) {
      EXPECT_EQ(s.connection_limit, 300u);
      EXPECT_EQ(s.handed_off, 0u);
    }
    client = std::make_unique<storm::Client>(port, "", "pid:", 8);
    client->start();
  });
  pool.on(ev::retiring, [&](Worker&) {
    if (!client) return;  // stop() at the end
    EXPECT_GE(pool.ready_count(), 2u) << "a worker retired before its replacement was ready";
  });
  pool.on(ev::recycled, [&](Worker& w, RecycleReason reason) {
    EXPECT_EQ(reason, RecycleReason::connections);
    EXPECT_STREQ(recycle_reason_name(reason), "connections");
    EXPECT_GE(connection_stats(w).handed_off, 300u);
    EXPECT_TRUE(recycled_ids.insert(w.id()).second) << "worker " << w.id() << " recycled twice";
    if (++recycles != 4) return;
    // Every C++ worker reports its closes once online (a newcomer may still be starting):
    // open ≤ handed off, and the figures come through.
    for (const auto& s : pool.snapshot()) {
      if (s.state != PoolWorkerState::ready) continue;
      EXPECT_TRUE(s.open_connections.has_value());
      if (s.open_connections) EXPECT_LE(*s.open_connections, s.handed_off);
      EXPECT_LE(s.in_flight, 8u);  // one server: at most the hand-off window awaits an answer
    }
    auto* c = client.release();
    pool_test::stop_client(*c, [&pool, c](const storm::Counts& counts) {
      std::printf("[ load     ] %s\n", counts.summary().c_str());
      EXPECT_EQ(counts.failed(), 0u) << counts.summary();
      delete c;
      pool.stop(5s);
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(recycles, 4);
  EXPECT_EQ(respawns, 0);
  events().remove_all_listeners();
}

// Verifies retire_signal: workers that ignore their disconnect leave by the signal at once, on
// scale-down and on stop(), long before the retirement's deadline (none killed by it).
TEST(PoolHooks, RetireSignalEndsWorkerThatIgnoresDisconnect) {
  auto o = pool_test::options(2, "pool_hooks_deaf");
  o.ready_servers = 0;
  o.retire_signal = SIGTERM;
  o.retire_deadline = 60s;  // the test's timeout would end first: only the signal can pass it
  Pool pool(o);
  int online = 0;
  int exits = 0;
  MustCall stopped(1, "stop done");
  on(ev::online, [&](Worker& w) {
    EXPECT_TRUE(pool.mark_ready(w));
    if (++online == 2) pool.scale(1);
  });
  on(ev::exit, [&](Worker&, int code, std::string_view signal) {
    EXPECT_EQ(signal, "SIGTERM") << "code " << code;
    if (++exits > 1) return;
    // The one left goes the same way on stop(), before any deadline.
    pool.stop(60s, [&](const StopResult& r) {
      stopped();
      EXPECT_TRUE(r.killed.empty());
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(exits, 2);
  events().remove_all_listeners();
}

// Verifies mark_ready(): with ready_servers 0 a worker is ready only when told; a second call,
// or a call for a worker that is not the pool's, changes nothing.
TEST(PoolHooks, MarkReadyIsTheOnlyReadinessWhenNothingElseCounts) {
  auto o = pool_test::options(1, "pool_hooks_deaf");
  o.ready_servers = 0;
  Pool pool(o), other(o);
  MustCall ready(1, "ready");
  pool.on(ev::ready, [&] { ready(); });
  on(ev::online, [&](Worker& w) {
    EXPECT_EQ(pool.ready_count(), 0u);
    EXPECT_FALSE(other.mark_ready(w));
    EXPECT_TRUE(pool.mark_ready(w));
    EXPECT_FALSE(pool.mark_ready(w));
    EXPECT_EQ(pool.ready_count(), 1u);
    pool.stop(100ms);
  });
  pool.start();
  run_loop();
  events().remove_all_listeners();
}

}  // namespace
