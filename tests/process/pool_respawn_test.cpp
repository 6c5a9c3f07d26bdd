// cluster::Pool: keeping N workers, respawn with a per-slot backoff, the crash-loop stop (a worker
// that crashes at start, a program that is missing), and scale up/down under load.
#include "pool_support.hpp"

#include <csignal>
#include <vector>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

// Answers every connection with its pid and closes it; exits 1 at start once the flag is raised.
WORKER_ROLE(pool_http) {
  if (pool_test::flag_raised()) std::exit(1);
  static const std::string answer = pool_test::answer_of(getpid());
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end(answer); });
  server->listen(0, "127.0.0.1");
}

namespace {

// Verifies a worker that crashes at start is respawned with doubling delays (50, 100, 200, 400 ms
// capped), that the 5th unexpected exit in the window stops respawning with errc::crash_loop, and
// that the survivor still serves.
TEST(PoolRespawn, CrashAtStartBacksOffThenStopsOnCrashLoop) {
  const std::string flag = pool_test::flag_path();
  Pool pool(pool_test::options(2, "pool_http", flag));
  int port = 0;
  std::vector<std::chrono::milliseconds> delays;
  std::vector<std::chrono::nanoseconds> waits;  // from an exit to the next fork
  std::int64_t last_exit = 0;
  std::shared_ptr<Worker> survivor;
  MustCall crash_loop(1, "crash_loop"), served(1, "survivor answered");
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  on(ev::exit, [&](Worker&) { last_exit = storm::now_ns(); });
  on(ev::fork, [&](Worker&) {
    if (last_exit) waits.emplace_back(storm::now_ns() - last_exit);
  });
  pool.on(ev::respawn_scheduled, [&](int slot, std::chrono::milliseconds d) {
    EXPECT_EQ(slot, 1);
    delays.push_back(d);
  });
  int ready = 0;
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    // Both serve: from now on every start of this program crashes; slot 1's worker dies.
    pool_test::raise_flag(flag);
    const auto snap = pool.snapshot();
    ASSERT_EQ(snap.size(), 2u);
    EXPECT_EQ(snap[0].slot, 0);
    survivor = workers().at(snap[0].id);
    workers().at(snap[1].id)->kill(SIGKILL);
  });
  pool.on(ev::crash_loop, [&](const std::system_error& e) {
    crash_loop();
    EXPECT_EQ(e.code(), make_error_code(errc::crash_loop));
    EXPECT_EQ(err_name(e.code()), "ERR_CLUSTER_CRASH_LOOP");
    EXPECT_TRUE(pool.crash_looped());
    pool_test::fetch(port, "", [&](const std::string& body) {
      served();
      EXPECT_EQ(body, pool_test::answer_of(survivor->process().pid()));
      pool.stop(5s);
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{50ms, 100ms, 200ms, 400ms}));
  ASSERT_EQ(waits.size(), delays.size());
  for (std::size_t i = 0; i < waits.size(); ++i) {
    // libuv counts from the loop's cached time, which may be a little older than the exit.
    EXPECT_GE(waits[i], delays[i] - 20ms) << "respawn " << i;
  }
  events().remove_all_listeners();
}

// Verifies a program that cannot start (error and disconnect, no exit) counts as a failed start:
// respawned with backoff, then stopped by the crash loop, so the loop ends instead of forking forever.
TEST(PoolRespawn, MissingProgramEndsInCrashLoop) {
  setup_primary({.exec = std::string("/nonexistent/cppcluster-worker")});
  auto o = pool_test::options(1, "pool_http");
  o.crash_loop_exits = 3;
  Pool pool(o);
  static int errors, forks;
  errors = forks = 0;
  MustCall crash_loop(1, "crash_loop");
  on(ev::fork, [&](Worker&) { ++forks; });
  // The spawn error comes before the fork event (both on ticks, as in Node): count it at the hook.
  set_error_hook([](const std::system_error& e, Worker*) {
    ++errors;
    EXPECT_EQ(err_name(e.code()), "ENOENT");
  });
  pool.on(ev::crash_loop, [&] { crash_loop(); });
  pool.start();
  run_loop();
  EXPECT_EQ(forks, 3);
  EXPECT_EQ(errors, 3);
  EXPECT_TRUE(pool.snapshot().empty());
  set_error_hook({});
  setup_primary({.exec = self_exe()});
  events().remove_all_listeners();
}

// Verifies scale(4) forks at once, scale(1) retires the newest slots gracefully, and no request of
// a connection-per-request load fails meanwhile.
TEST(PoolRespawn, ScaleUpThenDownUnderLoad) {
  Pool pool(pool_test::options(2, "pool_http"));
  std::unique_ptr<storm::Client> client;
  int ready = 0, retired = 0, first_id = 0, port = 0;
  on(ev::fork, [&](Worker& w) {
    if (!first_id) first_id = w.id();
  });
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready == 2) {
      client = std::make_unique<storm::Client>(port, "", "pid:", 8);
      client->start();
      after(200, [&] {
        pool.scale(4);
        EXPECT_EQ(pool.size(), 4u);
      });
    } else if (ready == 4) {
      EXPECT_EQ(pool.ready_count(), 4u);
      after(200, [&] { pool.scale(1); });
    }
  });
  pool.on(ev::retiring, [&](Worker&) { ++retired; });
  on(ev::exit, [&](Worker&) {
    if (retired != 3 || pool.snapshot().size() != 1) return;
    const auto left = pool.snapshot();
    EXPECT_EQ(left[0].slot, 0);
    EXPECT_EQ(left[0].id, first_id);  // the oldest stays
    after(200, [&] { pool_test::finish_load(*client, pool); });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 4);
  EXPECT_EQ(retired, 4);  // 3 by scale(1), the last by stop()
  events().remove_all_listeners();
}

}  // namespace
