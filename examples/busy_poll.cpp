// busy_poll: low-latency IPC with Settings::ipc_busy_poll_us (beyond Node).
//
// Two workers, one after the other, answer 2000 messages each, one at a time (ping-pong): the
// first with the default settings (both ends sleep between messages), the second forked after
// setup_primary({.ipc_busy_poll_us = 50}): both ends poll for 50 us after each message instead of
// sleeping, and since the worker is this same program the frames travel through shared-memory
// rings. The price is CPU while messages flow. Times depend on the machine and its load.
//
//   build/examples/busy_poll
//
// Prints (times vary):
//   ipc_busy_poll_us=0: 2000 round trips, 38.1 us each
//   ipc_busy_poll_us=50: 2000 round trips, 3.6 us each
#include <cluster/cluster.hpp>

#include <chrono>
#include <cstdio>

using namespace cluster;

namespace {

constexpr int round_trips = 2000;

// Forks a worker with the current settings and plays ping-pong with it; then calls next.
void ping_pong(unsigned busy_poll_us, void (*next)()) {
  setup_primary({.ipc_busy_poll_us = busy_poll_us});
  auto w = cluster::fork();
  w->once(ev::online, [w = w.get(), busy_poll_us, next] {
    const auto start = std::chrono::steady_clock::now();
    w->on(ev::message, [w, busy_poll_us, next, start](const Message& m) {
      const int n = m.get<int>();
      if (n < round_trips) {
        w->send(n + 1);
        return;
      }
      const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
      std::printf("ipc_busy_poll_us=%u: %d round trips, %.1f us each\n", busy_poll_us, n, took.count() / n);
      w->disconnect();
      if (next) next();
    });
    w->send(1);
  });
}

}  // namespace

int main() {
  if (is_primary()) {
    ping_pong(0, [] { ping_pong(50, nullptr); });
  } else {
    worker().on(ev::message, [](const Message& m) { worker().send(m); });
  }
  return run();
}
