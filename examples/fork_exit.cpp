// fork_exit: the 'exit' event of a worker (Node docs, "Event: 'exit'" of class Worker).
//
// The primary forks WORKERS workers (default 2). Each worker ends on its own, in a way chosen by
// its id: #1, #4, ... kill themselves with SIGTERM, #2, #5, ... exit with their id as the code,
// #3, #6, ... exit 0. The primary's worker.on('exit', (code, signal)) tells which happened.
//
//   build/examples/fork_exit
//   WORKERS=3 build/examples/fork_exit     # also shows "worker success!"
//
// Prints (in some order):
//   worker #1 was killed by signal: SIGTERM
//   worker #2 exited with error code: 2
#include <cluster/cluster.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

using namespace cluster;

int main() {
  if (is_primary()) {
    const char* n = std::getenv("WORKERS");
    const int count = n ? std::atoi(n) : 2;
    for (int i = 0; i < count; ++i) {
      auto w = cluster::fork();
      w->on(ev::exit, [id = w->id()](int code, std::string_view signal) {
        if (!signal.empty()) {
          std::printf("worker #%d was killed by signal: %.*s\n", id, static_cast<int>(signal.size()),
                      signal.data());
        } else if (code != 0) {
          std::printf("worker #%d exited with error code: %d\n", id, code);
        } else {
          std::printf("worker #%d: worker success!\n", id);
        }
      });
    }
    return run();
  }

  const int id = worker().id();
  switch (id % 3) {
    case 1:
      std::fflush(stdout);
      std::raise(SIGTERM);  // default action: the process dies of the signal
      break;
    case 2:
      std::exit(id);
    default:
      std::exit(0);
  }
  return 0;
}
