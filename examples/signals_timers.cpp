// signals_timers: timers and signal listeners on the loop (Node's setInterval / setTimeout and
// process.on('SIGUSR1')), without touching libuv.
//
// The worker ticks every 100 ms with set_interval() and tells the primary. After the third tick
// the primary sends the worker SIGUSR1 (worker->kill(SIGUSR1) sends the signal at once, as Node's
// worker.kill does; on a loaded machine a fourth tick may come first); the worker's on_signal()
// listener cancels the interval, and one set_timeout() later disconnects. The primary also arms a 10 s guard with set_timeout(), unref()'d so that it
// never keeps the program alive by itself.
//
//   build/examples/signals_timers
//
// Prints:
//   tick 1
//   tick 2
//   tick 3
//   worker got SIGUSR1 after 3 ticks: stopping the interval
//   worker 1 exited (0), 3 ticks
#include <cluster/cluster.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>

using namespace cluster;
using namespace std::chrono_literals;

int main() {
  if (is_primary()) {
    static int ticks = 0;
    auto w = cluster::fork();
    w->on(ev::message, [w = w.get()](const Message& m) {
      std::printf("tick %d\n", m["tick"].get<int>());
      if (++ticks == 3) w->kill(SIGUSR1);
    });
    w->on(ev::exit, [id = w->id()](int code) { std::printf("worker %d exited (%d), %d ticks\n", id, code, ticks); });
    set_timeout([] {
      std::fprintf(stderr, "no exit within 10 s\n");
      std::exit(1);
    }, 10s).unref();
  } else {
    static int ticks = 0;
    static Timer interval = set_interval([] { worker().send({{"tick", ++ticks}}); }, 100ms);
    on_signal(SIGUSR1, [](int) {
      std::printf("worker got SIGUSR1 after %d ticks: stopping the interval\n", ticks);
      std::fflush(stdout);
      interval.cancel();  // clear_interval(interval) does the same
      set_timeout([] { worker().disconnect(); }, 50ms);
    });
  }
  return run();
}
