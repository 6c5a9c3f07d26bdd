// cluster::Pool: rolling reload under load (no request lost, never below N ready, a second reload
// queued), a reload whose new workers never become ready (stopped, old ones serve), and stop()
// with a request in progress and with a worker that ignores its disconnect.
#include "pool_support.hpp"

#include <algorithm>
#include <set>
#include <vector>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

// Listens (and so becomes ready) unless the flag is raised; then it never becomes ready.
WORKER_ROLE(pool_maybe_ready) {
  if (pool_test::flag_raised()) return (void)worker();  // stays connected, serves nothing
  static const std::string answer = pool_test::answer_of(getpid());
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end(answer); });
  server->listen(0, "127.0.0.1");
}

// Tells the primary when a request arrives and answers it 300 ms later.
WORKER_ROLE(pool_slow) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->once(ev::data, [s] {
      worker().send({{"got", true}});
      set_timeout([s] { s->end("done\n"); }, 300ms);
    });
  });
  server->listen(0, "127.0.0.1");
}

// Says ready() itself, reports its retiring event, and never lets its loop end.
WORKER_ROLE(pool_stubborn) {
  worker().on(ev::retiring, [] { worker().send({{"retiring", true}}); });
  set_interval([] {}, 1000ms);
  cluster::ready();
}

namespace {

// Verifies two rolling reloads of 4 workers asked at once (the second queued) under
// connection-per-request load: every worker is replaced twice, a worker retires only while 4
// others are ready, and not one request fails.
TEST(PoolReload, RollingReloadUnderLoadLosesNoRequest) {
  Pool pool(pool_test::options(4, "pool_maybe_ready"));
  std::unique_ptr<storm::Client> client;
  std::set<int> first_ids;
  int port = 0, ready = 0, retired = 0, reloads = 0;
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  pool.on(ev::ready, [&](Worker& w) {
    if (++ready > 4) return;
    first_ids.insert(w.id());
    if (ready < 4) return;
    client = std::make_unique<storm::Client>(port, "", "pid:", 8);
    client->start();
    after(200, [&] {
      pool.reload();
      pool.reload();  // during the first: queued
      EXPECT_TRUE(pool.reloading());
    });
  });
  pool.on(ev::retiring, [&](Worker&) {
    ++retired;
    if (reloads < 2) EXPECT_GE(pool.ready_count(), 4u) << "a worker retired before its replacement was ready";
  });
  pool.on(ev::reload, [&](std::error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    if (++reloads < 2) return;
    for (const auto& s : pool.snapshot()) {
      if (s.state != PoolWorkerState::retiring) EXPECT_EQ(first_ids.count(s.id), 0u) << "worker " << s.id;
    }
    after(200, [&] { pool_test::finish_load(*client, pool); });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(reloads, 2);
  EXPECT_EQ(ready, 12);
  EXPECT_EQ(retired, 12);  // 8 by the reloads, 4 by stop()
  events().remove_all_listeners();
}

// Verifies reload_batch 2 replaces 4 workers two at a time: never more than 2 newcomers starting.
TEST(PoolReload, BatchOfTwoStartsTwoAtATime) {
  auto o = pool_test::options(4, "pool_maybe_ready");
  o.reload_batch = 2;
  Pool pool(o);
  int ready = 0;
  std::size_t most_starting = 0;
  MustCall reloaded(1, "reload done");
  on(ev::fork, [&](Worker&) {
    if (!pool.reloading()) return;
    std::size_t starting = 0;
    for (const auto& s : pool.snapshot()) starting += s.state == PoolWorkerState::starting ? 1 : 0;
    most_starting = std::max(most_starting, starting);
  });
  pool.on(ev::ready, [&] {
    if (++ready == 4) pool.reload();
  });
  pool.on(ev::reload, [&](std::error_code ec) {
    reloaded();
    EXPECT_FALSE(ec);
    pool.stop(5s);
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 8);
  EXPECT_EQ(most_starting, 2u);
  events().remove_all_listeners();
}

// Verifies a reload whose new worker never becomes ready stops with errc::reload_failed after the
// ready timeout (the newcomer killed), and the old workers keep serving.
TEST(PoolReload, NeverReadyWorkerStopsReloadAndOldOnesServe) {
  const std::string flag = pool_test::flag_path();
  auto o = pool_test::options(2, "pool_maybe_ready", flag);
  o.ready_timeout = 500ms;
  Pool pool(o);
  int port = 0, ready = 0;
  std::set<int> old_pids;
  MustCall failed(1, "reload failed"), served(1, "an old worker answered");
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  pool.on(ev::ready, [&](Worker& w) {
    old_pids.insert(w.process().pid());
    if (++ready != 2) return;
    pool_test::raise_flag(flag);
    pool.reload();
  });
  pool.on(ev::reload, [&](std::error_code ec) {
    failed();
    EXPECT_EQ(ec, make_error_code(errc::reload_failed));
    EXPECT_FALSE(pool.reloading());
    EXPECT_EQ(pool.ready_count(), 2u);
    pool_test::fetch(port, "", [&](const std::string& body) {
      served();
      EXPECT_TRUE(std::any_of(old_pids.begin(), old_pids.end(),
                              [&](int pid) { return body == pool_test::answer_of(pid); })) << body;
      pool.stop(5s);
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 2);
  events().remove_all_listeners();
}

// Verifies stop() lets a request in progress complete and reports nobody killed.
TEST(PoolStop, RequestInProgressCompletes) {
  Pool pool(pool_test::options(1, "pool_slow"));
  MustCall answered(1, "answer"), stopped(1, "stop callback");
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("got")) {
      pool.stop(10s, [&](const StopResult& r) {
        stopped();
        EXPECT_EQ(r.stopped.size(), 1u);
        EXPECT_TRUE(r.killed.empty());
      });
    }
  });
  // The cluster's listening event comes after the worker's (which makes the pool's ready).
  on(ev::listening, [&](Worker&, const Address& a) {
    pool_test::fetch(a.port, "GET / HTTP/1.0\r\n\r\n", [&](const std::string& body) {
      answered();
      EXPECT_EQ(body, "done\n");
    });
  });
  pool.start();
  run_loop();
  events().remove_all_listeners();
}

// Verifies a worker that ignores its disconnect is SIGKILLed at stop()'s deadline and reported,
// that it saw the retiring event first, and that ready() counts as readiness (ready_servers 0).
TEST(PoolStop, WorkerIgnoringDisconnectIsKilledAtDeadline) {
  auto o = pool_test::options(1, "pool_stubborn");
  o.ready_servers = 0;
  Pool pool(o);
  MustCall retiring_seen(1, "retiring message from the worker"), stopped(1, "stop callback");
  std::int64_t stop_at = 0;
  int id = 0;
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("retiring")) retiring_seen();
  });
  pool.on(ev::ready, [&](Worker& w) {
    id = w.id();
    stop_at = storm::now_ns();
    pool.stop(300ms, [&](const StopResult& r) {
      stopped();
      EXPECT_GE(std::chrono::nanoseconds(storm::now_ns() - stop_at), 280ms);
      EXPECT_EQ(r.stopped, std::vector<int>{id});
      EXPECT_EQ(r.killed, std::vector<int>{id});
    });
  });
  pool.start();
  run_loop();
  events().remove_all_listeners();
}

}  // namespace
