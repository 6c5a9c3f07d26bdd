// exited_after_disconnect: telling a voluntary exit from a crash (Node docs,
// worker.exitedAfterDisconnect).
//
// The primary forks two workers. When #1 is online it calls worker.kill(); when #2 is online it
// calls worker.disconnect(). cluster.on('exit') looks at exited_after_disconnect().
//
//   build/examples/exited_after_disconnect
//
// Prints (in some order):
//   worker #1 (kill) exited (signal SIGTERM): exitedAfterDisconnect is false, it was not voluntary
//   worker #2 (disconnect) exited (code 0): Oh, it was just voluntary – no need to worry
//
// The docs' snippet pairs the message with worker.kill(), but in Node 20 the primary's kill() is
// process.kill(signal) and nothing more (lib/internal/cluster/primary.js): the signal arrives
// before anything marks the exit as wanted, so exitedAfterDisconnect is false. Only disconnect()
// (from the primary, or kill()/disconnect() inside the worker) sets it. Node 20 prints the same.
#include <cluster/cluster.hpp>

#include <cstdio>

using namespace cluster;

int main() {
  if (is_primary()) {
    on(ev::exit, [](Worker& w, int code, std::string_view signal) {
      const char* how = w.id() == 1 ? "kill" : "disconnect";
      if (signal.empty()) {
        std::printf("worker #%d (%s) exited (code %d): ", w.id(), how, code);
      } else {
        std::printf("worker #%d (%s) exited (signal %.*s): ", w.id(), how, static_cast<int>(signal.size()),
                    signal.data());
      }
      if (w.exited_after_disconnect() == true) {
        std::printf("Oh, it was just voluntary – no need to worry\n");
      } else {
        std::printf("exitedAfterDisconnect is false, it was not voluntary\n");
      }
    });

    auto killed = cluster::fork();
    killed->on(ev::online, [w = killed.get()] { w->kill(); });
    auto disconnected = cluster::fork();
    disconnected->on(ev::online, [w = disconnected.get()] { w->disconnect(); });
  }
  // A worker has nothing to do: its open channel keeps it running until the primary acts.
  return run();
}
