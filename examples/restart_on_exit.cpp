// restart_on_exit: replacing workers that die (Node docs, cluster "Event: 'exit'").
//
// The primary forks two workers and gives each a job. A worker "crashes" when it gets one: odd
// ids exit with code 1, even ids die of SIGTERM. cluster.on('exit') forks a replacement, which
// gets a job and crashes in turn, until RESTARTS (default 3) restarts are used up; then the last
// workers die, nothing is left and the program ends.
//
//   build/examples/restart_on_exit
//   RESTARTS=10 build/examples/restart_on_exit
//
// Prints (pids vary):
//   worker 4242 died (1). restarting...
//   worker 4243 died (SIGTERM). restarting...
//   worker 4250 died (1). restarting...
//   worker 4251 died (SIGTERM). not restarting: 3 restarts used
//   worker 4252 died (1). not restarting: 3 restarts used
#include <cluster/cluster.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace cluster;

int main() {
  if (is_primary()) {
    const char* r = std::getenv("RESTARTS");
    const int max_restarts = r ? std::atoi(r) : 3;

    on(ev::online, [](Worker& w) { w.send({{"job", w.id()}}); });
    on(ev::exit, [max_restarts, restarts = 0](Worker& w, int code, std::string_view signal) mutable {
      const std::string why = signal.empty() ? std::to_string(code) : std::string(signal);
      if (restarts < max_restarts) {
        ++restarts;
        std::printf("worker %d died (%s). restarting...\n", w.process().pid(), why.c_str());
        cluster::fork();
      } else {
        std::printf("worker %d died (%s). not restarting: %d restarts used\n", w.process().pid(),
                    why.c_str(), max_restarts);
      }
    });

    cluster::fork();
    cluster::fork();
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
