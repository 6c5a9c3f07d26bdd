// cluster::Pool health: hang detection by heartbeats (a worker whose loop blocks is killed with
// SIGTERM, then SIGKILL if it ignores it, and replaced; a busy but healthy one never is) and
// recycling above a memory limit (ready-then-retire under load, per-worker jitter, no double
// replacement beside a reload), and the snapshot's /proc figures.
#include "pool_support.hpp"

#include "pool/proc_stats.hpp"

#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <thread>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

namespace {

// Blocks this worker's loop for good (sleeping, so it costs no CPU on a shared machine).
[[noreturn]] void block_forever() {
  for (;;) ::sleep(1);
}

constexpr std::uint64_t mib = 1024 * 1024;

}  // namespace

// Answers every connection with its pid (after burning POOL_BUSY_US of CPU, if set). On a message
// {"hang": "term"} its loop blocks; {"hang": "ignore_term"} first ignores SIGTERM; {"grow": n}
// allocates and touches n bytes, then says {"grown": n}.
WORKER_ROLE(pool_health_http) {
  static const std::string answer = pool_test::answer_of(getpid());
  static const long busy_us = std::getenv("POOL_BUSY_US") ? std::atol(std::getenv("POOL_BUSY_US")) : 0;
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    if (busy_us > 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(busy_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    s->end(answer);
  });
  server->listen(0, "127.0.0.1");
  worker().on(ev::message, [](const Message& m) {
    if (m.contains("hang")) {
      if (m["hang"] == "ignore_term") std::signal(SIGTERM, SIG_IGN);
      block_forever();
    }
    if (m.contains("grow")) {
      static std::vector<std::unique_ptr<char[]>> hoard;
      const auto n = m["grow"].get<std::size_t>();
      hoard.emplace_back(new char[n]);
      for (std::size_t i = 0; i < n; i += 4096) hoard.back()[i] = 1;  // resident, page by page
      worker().send({{"grown", n}});
    }
  });
}

// Says ready() (ready_servers 0), then blocks its loop on its first turn, unless the flag is
// raised: then it only says ready() and stays.
WORKER_ROLE(pool_block_after_ready) {
  cluster::ready();
  if (!pool_test::flag_raised()) set_timeout([] { block_forever(); }, 1ms);
}

namespace {

// Short heartbeats, for tests that wait on them.
PoolOptions with_heartbeat(PoolOptions o, std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                           std::chrono::milliseconds grace) {
  o.heartbeat_interval = interval;
  o.heartbeat_timeout = timeout;
  o.kill_grace = grace;
  return o;
}

// n pool_health_http workers recycled above 128 MiB, checked every `every`.
PoolOptions recycling(unsigned n, std::chrono::milliseconds every) {
  auto o = pool_test::options(n, "pool_health_http");
  o.max_rss_bytes = 768 * mib;  // well above a fresh worker, also under AddressSanitizer
  o.health_interval = every;
  return o;
}

// Verifies a worker whose loop blocks after it ignored SIGTERM is found hung (silent for longer
// than the timeout), hang_killed fires for it alone, it dies of SIGKILL after the grace, its slot is
// respawned and counts one hang, and the other worker was never touched.
TEST(PoolHealth, HungWorkerIgnoringSigtermIsKilledAndReplaced) {
  Pool pool(with_heartbeat(pool_test::options(2, "pool_health_http"), 50ms, 500ms, 300ms));
  int ready = 0, hung_id = 0, other_id = 0;
  MustCall killed(1, "hang_killed"), sigkill(1, "the hung worker's exit"), respawn(1, "respawn scheduled");
  pool.on(ev::ready, [&](Worker&) {
    if (++ready == 2) {
      const auto snap = pool.snapshot();
      ASSERT_EQ(snap.size(), 2u);
      for (const auto& s : snap) EXPECT_TRUE(s.answers_heartbeat) << "worker " << s.id;
      hung_id = snap[0].id;
      other_id = snap[1].id;
      workers().at(hung_id)->send({{"hang", "ignore_term"}});
    } else if (ready == 3) {
      const auto snap = pool.snapshot();
      ASSERT_EQ(snap.size(), 2u);
      EXPECT_EQ(snap[0].slot, 0);
      EXPECT_NE(snap[0].id, hung_id);
      EXPECT_EQ(snap[0].hangs, 1u);
      EXPECT_EQ(snap[1].id, other_id);
      EXPECT_EQ(snap[1].hangs, 0u);
      pool.stop(5s);
    }
  });
  pool.on(ev::hang_killed, [&](Worker& w) {
    killed();
    EXPECT_EQ(w.id(), hung_id);
    for (const auto& s : pool.snapshot()) {
      if (s.id == hung_id) EXPECT_GE(s.heartbeat_age, 500ms) << "killed before its timeout";
    }
  });
  pool.on(ev::respawn_scheduled, [&](int slot) {
    respawn();
    EXPECT_EQ(slot, 0);
  });
  on(ev::exit, [&](Worker& w, int, std::string_view signal) {
    if (w.id() != hung_id) return;
    sigkill();
    EXPECT_EQ(signal, "SIGKILL");
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 3);
  events().remove_all_listeners();
}

// Verifies a C++ worker that blocks on its loop's first turn, right after ready(), is still known
// to answer heartbeats (it said so before any user code ran), so it is found hung, dies of the
// SIGTERM (kill_grace is far longer than the test) and is replaced.
TEST(PoolHealth, WorkerBlockedRightAfterReadyIsKilled) {
  const std::string flag = pool_test::flag_path();
  auto o = with_heartbeat(pool_test::options(1, "pool_block_after_ready", flag), 50ms, 500ms, 60s);
  o.ready_servers = 0;
  Pool pool(o);
  int ready = 0, first_id = 0;
  MustCall killed(1, "hang_killed"), sigterm(1, "the hung worker's exit");
  pool.on(ev::ready, [&](Worker& w) {
    if (++ready == 1) first_id = w.id();
    if (ready == 2) pool.stop(5s);
  });
  pool.on(ev::hang_killed, [&](Worker& w) {
    killed();
    EXPECT_EQ(w.id(), first_id);
    pool_test::raise_flag(flag);  // before the respawn: the replacement stays healthy
  });
  on(ev::exit, [&](Worker& w, int, std::string_view signal) {
    if (w.id() != first_id) return;
    sigterm();
    EXPECT_EQ(signal, "SIGTERM");
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 2);
  events().remove_all_listeners();
}

// Verifies workers kept busy by connection-per-request load (each request burning CPU) with
// heartbeats every 20 ms are never killed over ~150 intervals, keep answering (a recent heartbeat
// at the end), show CPU time in the snapshot, and serve every request.
TEST(PoolHealth, BusyHealthyWorkersAreNeverKilled) {
  auto o = with_heartbeat(pool_test::options(2, "pool_health_http"), 20ms, 2000ms, 1000ms);
  o.env["POOL_BUSY_US"] = "300";
  Pool pool(o);
  std::unique_ptr<storm::Client> client;
  int ready = 0, port = 0, hangs = 0, exits_before_stop = 0;
  bool stopping = false;
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  on(ev::exit, [&](Worker&) { exits_before_stop += stopping ? 0 : 1; });
  pool.on(ev::hang_killed, [&](Worker&) { ++hangs; });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    client = std::make_unique<storm::Client>(port, "", "pid:", 4);
    client->start();
    after(3000, [&] {
      const auto snap = pool.snapshot();
      ASSERT_EQ(snap.size(), 2u);
      for (const auto& s : snap) {
        EXPECT_TRUE(s.answers_heartbeat);
        EXPECT_LT(s.heartbeat_age, 2000ms) << "worker " << s.id << " stopped answering";
        EXPECT_GT(s.cpu_time, 0ms);
        EXPECT_GT(s.rss_bytes, 0u);
        EXPECT_EQ(s.hangs, 0u);
      }
      stopping = true;
      pool_test::finish_load(*client, pool);
    });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(hangs, 0);
  EXPECT_EQ(exits_before_stop, 0);
  EXPECT_EQ(ready, 2);
  events().remove_all_listeners();
}

// Verifies a worker grown above max_rss_bytes under connection-per-request load is recycled
// ready-then-retire: recycled fires once for it (reason rss, its memory above its own limit),
// it retires only while 2 others are ready, nothing is counted as a crash (no respawn), the slot
// counts one recycle, and not one request fails.
TEST(PoolHealth, RssRecycleIsReadyThenRetireUnderLoad) {
  Pool pool(recycling(2, 50ms));
  std::unique_ptr<storm::Client> client;
  int ready = 0, port = 0, old_id = 0, respawns = 0;
  MustCall recycled(1, "recycled"), old_retired(1, "the recycled worker retiring");
  on(ev::listening, [&](Worker&, const Address& a) { port = a.port; });
  pool.on(ev::respawn_scheduled, [&] { ++respawns; });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    const auto snap = pool.snapshot();
    ASSERT_EQ(snap.size(), 2u);
    for (const auto& s : snap) {
      ASSERT_GT(s.rss_limit_bytes, 0u);
      ASSERT_LT(s.rss_bytes, s.rss_limit_bytes) << "a fresh worker is already above the limit";
    }
    old_id = snap[0].id;
    client = std::make_unique<storm::Client>(port, "", "pid:", 8);
    client->start();
    after(200, [&] { workers().at(old_id)->send({{"grow", 900 * mib}}); });
  });
  pool.on(ev::retiring, [&](Worker& w) {
    if (w.id() != old_id) return;
    old_retired();
    EXPECT_GE(pool.ready_count(), 2u) << "the recycled worker retired before its replacement was ready";
  });
  pool.on(ev::recycled, [&](Worker& w, RecycleReason reason) {
    recycled();
    EXPECT_EQ(w.id(), old_id);
    EXPECT_EQ(reason, RecycleReason::rss);
    EXPECT_STREQ(recycle_reason_name(reason), "rss");
    for (const auto& s : pool.snapshot()) {
      if (s.slot == 0) EXPECT_EQ(s.recycles, 1u);
      if (s.id == old_id) EXPECT_GT(s.rss_bytes, s.rss_limit_bytes);
    }
  });
  on(ev::exit, [&](Worker& w) {
    if (w.id() == old_id) after(200, [&] { pool_test::finish_load(*client, pool); });
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 3);
  EXPECT_EQ(respawns, 0);
  events().remove_all_listeners();
}

// Verifies recycle_jitter gives each of 4 workers its own limit, within (max/2, max], and that
// the snapshot reads every live worker's memory.
TEST(PoolHealth, JitterGivesEachWorkerItsOwnLimit) {
  auto o = pool_test::options(4, "pool_health_http");
  o.max_rss_bytes = 1024 * mib;
  o.recycle_jitter = 0.5;
  Pool pool(o);
  int ready = 0;
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 4) return;
    std::set<std::uint64_t> limits;
    for (const auto& s : pool.snapshot()) {
      limits.insert(s.rss_limit_bytes);
      EXPECT_GT(s.rss_limit_bytes, 512 * mib);
      EXPECT_LE(s.rss_limit_bytes, 1024 * mib);
      EXPECT_GT(s.rss_bytes, 0u);
    }
    EXPECT_EQ(limits.size(), 4u);
    pool.stop(5s);
  });
  pool.start();
  run_loop();
  EXPECT_EQ(ready, 4);
  events().remove_all_listeners();
}

// Verifies a recycle and a reload at the same time replace each slot once: whichever comes first
// for the grown worker's slot, there are exactly 4 forks (2 + one a slot), never two newcomers in
// one slot, and the reload succeeds.
TEST(PoolHealth, RecycleDuringReloadReplacesEachSlotOnce) {
  Pool pool(recycling(2, 20ms));
  int ready = 0, forks = 0;
  MustCall reloaded(1, "reload done");
  on(ev::fork, [&](Worker&) {
    ++forks;
    std::map<int, int> starting;
    for (const auto& s : pool.snapshot()) starting[s.slot] += s.state == PoolWorkerState::starting ? 1 : 0;
    for (const auto& [slot, n] : starting) EXPECT_LE(n, 1) << "slot " << slot;
  });
  pool.on(ev::ready, [&](Worker&) {
    if (++ready != 2) return;
    workers().at(pool.snapshot()[1].id)->send({{"grow", 900 * mib}});
    pool.reload();
  });
  pool.on(ev::reload, [&](std::error_code ec) {
    reloaded();
    EXPECT_FALSE(ec) << ec.message();
    pool.stop(5s);
  });
  pool.start();
  run_loop();
  EXPECT_EQ(forks, 4);
  EXPECT_EQ(ready, 4);
  events().remove_all_listeners();
}

// Verifies the /proc/<pid>/stat parser counts fields from the last ')' (a comm with spaces and
// parentheses), adds utime and stime, and rejects a truncated line.
TEST(PoolHealth, StatParserSkipsOddCommands) {
  const std::string stat =
      "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 1 0 12345 1000 200";
  EXPECT_EQ(detail::parse_stat_cpu_ticks(stat), 22u);
  EXPECT_EQ(detail::parse_stat_cpu_ticks("4242 (x) S 1 2 3"), 0u);
  EXPECT_EQ(detail::parse_stat_cpu_ticks(""), 0u);
  EXPECT_GT(detail::read_rss_bytes(getpid()), 0u);
  EXPECT_EQ(detail::read_rss_bytes(0), 0u);
}

}  // namespace
