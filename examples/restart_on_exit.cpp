// restart_on_exit: replacing workers that die (Node docs, cluster "Event: 'exit'"), done by a
// cluster::Pool instead of a hand-written cluster.on('exit') loop.
//
// The pool keeps two workers and gives each a job. A worker "crashes" when it gets one: odd ids
// exit with code 1, even ids die of SIGTERM. The pool replaces each after a backoff that doubles
// per slot (50 ms, 100 ms, ...). Once RESTARTS + 1 (default 4) workers have died within a
// minute, the pool calls it a crash loop and stops replacing them (a respawn it had scheduled is
// cancelled): nothing is left and the program ends.
//
//   build/examples/restart_on_exit
//   RESTARTS=10 build/examples/restart_on_exit
//
// Prints (pids vary):
//   worker 4242 died (1). restarting slot 0 in 50 ms
//   worker 4243 died (SIGTERM). restarting slot 1 in 50 ms
//   worker 4250 died (1). restarting slot 0 in 100 ms
//   worker 4251 died (SIGTERM). not restarting: 4 unexpected exits within 60000 ms: workers keep
//   exiting: respawning stopped
#include <cluster/cluster.hpp>
#include <cluster/pool.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace cluster;

int main() {
  if (is_primary()) {
    const char* r = std::getenv("RESTARTS");
    PoolOptions options;
    options.workers = 2;
    options.ready_servers = 0;  // these workers listen on nothing: online is enough to give a job
    options.backoff_initial = std::chrono::milliseconds(50);
    options.crash_loop_exits = static_cast<unsigned>(r ? std::atoi(r) : 3) + 1;
    options.crash_loop_window = std::chrono::minutes(1);
    static Pool pool(options);
    static std::string verdict;  // what the pool decided about the last exit

    on(ev::online, [](Worker& w) { w.send({{"job", w.id()}}); });
    // The pool hears of an exit first (it started listening first) and decides; then this runs.
    pool.on(ev::respawn_scheduled, [](int slot, std::chrono::milliseconds delay) {
      verdict = "restarting slot " + std::to_string(slot) + " in " + std::to_string(delay.count()) + " ms";
    });
    pool.on(ev::crash_loop, [](const std::system_error& e) { verdict = std::string("not restarting: ") + e.what(); });
    on(ev::exit, [](Worker& w, int code, std::string_view signal) {
      const std::string why = signal.empty() ? std::to_string(code) : std::string(signal);
      std::printf("worker %d died (%s). %s\n", w.process().pid(), why.c_str(), verdict.c_str());
    });
    pool.start();
    return run();
  }

  worker().on(ev::message, [](const Message& m) {
    std::printf("worker #%d got %s and crashes\n", worker().id(), m.dump().c_str());
    std::fflush(stdout);
    if (worker().id() % 2 == 0) std::raise(SIGTERM);
    std::exit(1);
  });
  return run();
}
