// pool_reload: a cluster::Pool replacing a worker that died, and reloading on SIGHUP (beyond Node).
//
// The pool keeps two workers serving TCP on 127.0.0.1 (port 0). Once both are ready the program
// SIGKILLs one (a crash): the pool respawns it after its backoff. Once that replacement is
// ready it sends itself SIGHUP, whose listener calls pool.reload(): new workers replace the old
// ones one at a time, each old one retiring only once its successor is ready. Then a connection
// shows a new worker answering, and pool.stop() ends the program.
//
//   build/examples/pool_reload
//
// Prints:
//   ready: worker 1, worker 2
//   killing worker 1; respawn in 100 ms
//   ready: worker 3; SIGHUP
//   reload done: answered by worker 4
//   stopped 2 worker(s), 0 killed      (3 when an old worker is still leaving)
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>
#include <cluster/pool.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

using namespace cluster;
using namespace std::chrono_literals;

int main() {
  if (is_primary()) {
    static Pool pool({.workers = 2});
    static int port = 0, ready = 0;
    on(ev::listening, [](Worker&, const Address& a) { port = a.port; });
    pool.on(ev::ready, [](Worker& w) {
      if (++ready == 1) return (void)std::printf("ready: worker %d", w.id());
      if (ready == 2) {
        std::printf(", worker %d\n", w.id());
        return (void)cluster::workers().begin()->second->kill(SIGKILL);
      }
      if (ready == 3) std::printf("ready: worker %d; SIGHUP\n", w.id()), std::raise(SIGHUP);
    });
    pool.on(ev::respawn_scheduled, [](int, std::chrono::milliseconds delay) {
      std::printf("killing worker 1; respawn in %lld ms\n", static_cast<long long>(delay.count()));
    });
    on_signal(SIGHUP, [](int) { pool.reload(); });
    pool.on(ev::reload, [](std::error_code ec) {
      if (ec) return (void)std::printf("reload failed: %s\n", ec.message().c_str());
      auto s = net::Socket::connect(port);
      s->on(ev::data, [](std::string_view d) {
        std::printf("reload done: answered by %.*s\n", static_cast<int>(d.size()), d.data());
        pool.stop(5s, [](const StopResult& r) {
          std::printf("stopped %zu worker(s), %zu killed\n", r.stopped.size(), r.killed.size());
        });
      });
    });
    pool.start();
  } else {
    net::create_server([](const std::shared_ptr<net::Socket>& s) {
      s->end("worker " + std::to_string(worker().id()));
    })->listen(0, "127.0.0.1");
  }
  return run();
}
