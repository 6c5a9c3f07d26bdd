// The first example of Node's cluster documentation, on a cluster::Pool: the primary keeps one
// worker per CPU (WORKERS overrides) serving HTTP on the same port (8000, or PORT), answering
// "hello world" with the id of the worker that served. Signals to the primary:
//   SIGHUP           rolling reload: new workers (new ids in X-Worker-Id) replace the old ones,
//                    one at a time, each old one retiring only once its replacement listens
//   SIGTERM, Ctrl-C  graceful stop: workers finish what they have (idle keep-alive connections
//                    are closed) and are killed after STOP_DEADLINE_MS (default 10000); exit 0.
//                    A second Ctrl-C kills them at once.
//   SIGTTIN/SIGTTOU  one worker more / less
// RECYCLE_AFTER=n replaces a worker (its successor ready first) after n connections.
// A worker online but not listening after LISTEN_WARN_MS (default 10000; 0: off) gets a warning
// on stderr naming its id and pid (the pool kills it at its 30 s ready timeout). WARMUP_MS makes
// each worker wait that long before it listens, as one loading a cache would.
// A worker that dies is respawned (with backoff); if workers keep dying before any listens (the
// port is taken, say), the pool's crash-loop stop ends the demo with status 1.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>
#include <cluster/pool.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "example_util.hpp"
#include "http_lite.hpp"

using example::env_int;

namespace {

bool listening = false;  // some worker listens
bool failed = false;     // workers kept failing before any listened: the demo exits 1
int pid() { return static_cast<int>(getpid()); }

// The ids of the pool's workers that are not retiring, "3, 4".
std::string ids(const cluster::Pool& pool) {
  std::string s;
  for (const auto& w : pool.snapshot()) {
    if (w.state == cluster::PoolWorkerState::retiring) continue;
    s += (s.empty() ? "" : ", ") + std::to_string(w.id);
  }
  return s;
}

// Keeps n workers, saying so.
void scale(cluster::Pool& pool, unsigned n) {
  std::printf("Primary %d: scaling to %u worker(s)\n", pid(), n);
  pool.scale(n);
}

void run_primary() {
  std::printf("Primary %d is running\n", pid());
  std::fflush(stdout);
  cluster::PoolOptions options;
  options.workers = static_cast<unsigned>(std::max(1, env_int("WORKERS", static_cast<int>(cluster::available_parallelism()))));
  // RECYCLE_AFTER=n: a worker is replaced (new one ready first) after n handed-off connections.
  options.max_connections = static_cast<std::uint64_t>(std::max(0, env_int("RECYCLE_AFTER", 0)));
  options.health_interval = std::chrono::milliseconds(500);
  static cluster::Pool pool(options);
  static const auto deadline = std::chrono::milliseconds(env_int("STOP_DEADLINE_MS", 10000));

  cluster::once(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
    listening = true;
    std::printf("Listening on port %d\n", a.port);
  });
  cluster::on(cluster::ev::exit, [](cluster::Worker& w, int code, std::string_view signal) {
    if (w.exited_after_disconnect().value_or(false)) {
      std::printf("worker %d (id %d) retired\n", w.process().pid(), w.id());
    } else {
      std::printf("worker %d died (%s)\n", w.process().pid(),
                  signal.empty() ? std::to_string(code).c_str() : std::string(signal).c_str());
    }
  });
  pool.on(cluster::ev::crash_loop, [](const std::system_error& e) {
    if (listening) {
      std::fprintf(stderr, "Primary %d: %s; no more respawns, %u worker(s) still serving\n", pid(), e.what(),
                   pool.ready_count());
      return;
    }
    // No worker ever listened: the demo cannot start, so it stops the others and exits non-zero.
    failed = true;
    std::fprintf(stderr, "Primary %d: workers keep exiting before listening (%s); stopping\n", pid(), e.what());
    pool.stop(deadline);
  });
  pool.on(cluster::ev::recycled, [](cluster::Worker& w, cluster::RecycleReason why) {
    std::printf("Primary %d: worker %d recycled (%s)\n", pid(), w.id(), cluster::recycle_reason_name(why));
  });
  pool.on(cluster::ev::reload, [](std::error_code ec) {
    if (ec) {
      std::printf("Primary %d: reload stopped (%s); the old workers keep serving\n", pid(), ec.message().c_str());
    } else {
      std::printf("Primary %d: reload done, workers %s\n", pid(), ids(pool).c_str());
    }
  });

  cluster::on_signal(SIGHUP, [](int) {
    std::printf("Primary %d: reloading workers %s\n", pid(), ids(pool).c_str());
    pool.reload();
  });
  cluster::on_signal(SIGTTIN, [](int) { scale(pool, pool.size() + 1); });
  cluster::on_signal(SIGTTOU, [](int) { scale(pool, std::max(1u, pool.size() - 1)); });
  example::on_signals({SIGINT, SIGTERM}, [](int) {
    static bool stopping = false;
    if (stopping) {  // a second Ctrl-C: do not wait for open connections
      for (auto& [id, w] : cluster::workers()) w->kill(SIGKILL);
      return;
    }
    stopping = true;
    std::printf("Primary %d: stopping workers (deadline %lld ms)\n", pid(), static_cast<long long>(deadline.count()));
    std::fflush(stdout);
    pool.stop(deadline, [](const cluster::StopResult& r) {
      if (!r.killed.empty()) std::printf("Primary %d: %zu worker(s) killed at the deadline\n", pid(), r.killed.size());
    });
  });
  example::warn_unless_listening(std::chrono::milliseconds(env_int("LISTEN_WARN_MS", 10000)));
  pool.start();
}

void run_worker() {
  // Ctrl-C and a terminal's hang-up reach the whole process group; the primary decides how
  // workers stop (SIGTERM from worker.kill() still ends a worker).
  example::on_signals({SIGINT, SIGHUP}, [](int) {});
  const std::string id = std::to_string(cluster::worker().id());
  static auto server = http_lite::create_server([id](const http_lite::Request&, http_lite::Response& res) {
    res.set_header("X-Worker-Id", id);
    res.end("hello world\n");
  });
  server->on(cluster::ev::error, [](const std::system_error& e) {
    std::fprintf(stderr, "Worker %d: %s (%s)\n", pid(), e.what(), cluster::err_name(e.code()).c_str());
    std::exit(1);  // cannot serve: the primary sees exit code 1
  });
  // Retiring (reload, scale down, stop): keep-alive connections would hold the disconnect. Each
  // is closed after its next response, or after 200 ms without a request.
  cluster::worker().on(cluster::ev::retiring, [] { http_lite::drain(*server); });
  const int port = env_int("PORT", 8000);
  if (const int warmup = env_int("WARMUP_MS", 0); warmup > 0) {
    cluster::set_timeout([port] { server->listen(port); }, std::chrono::milliseconds(warmup));
  } else {
    server->listen(port);
  }
  std::printf("Worker %d started\n", pid());
  std::fflush(stdout);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cluster::is_primary()) {
    run_primary();
  } else {
    run_worker();
  }
  cluster::run();
  return failed ? 1 : 0;
}
