// IPC figures: ping-pong round-trip latency of a small message, and one-way messages/s for
// 100k messages of about 100 bytes, under 'json' or 'advanced' serialization.
// Usage: ipc_bench json|advanced [roundtrips] [messages] [busy_poll_us]. Prints one JSON line.
// busy_poll_us > 0 sets Settings::ipc_busy_poll_us (beyond Node; mode is then e.g. "json+spin").
// The Node.js twin is bench/node/ipc_bench.js; bench/run.sh runs both.
#include <cluster/cluster.hpp>

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace cluster;

namespace {

Message payload(int i) {
  // About 100 bytes as JSON: {"seq":N,"kind":"tick","body":"xxxx…"}
  return {{"seq", i}, {"kind", "tick"}, {"body", std::string(64, 'x')}};
}

}  // namespace

int main(int argc, char** argv) {
  if (is_worker()) {
    // Echo pings; on {"blast": N} send N one-way messages, then {"done": N}.
    worker().on(ev::message, [](const Message& m) {
      if (m.is_object() && m.contains("blast")) {
        int n = m["blast"].get<int>();
        for (int i = 0; i < n; ++i) worker().send(payload(i));
        worker().send({{"done", n}});
      } else {
        worker().send(m);
      }
    });
    return run();
  }

  const std::string mode = argc > 1 ? argv[1] : "json";
  const int roundtrips = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int messages = argc > 3 ? std::atoi(argv[3]) : 100000;
  const int spin_us = argc > 4 ? std::atoi(argv[4]) : 0;
  Settings settings{.args = std::vector<std::string>{mode},
                    .serialization = mode == "advanced" ? Serialization::advanced : Serialization::json};
  if (spin_us > 0) settings.ipc_busy_poll_us = static_cast<unsigned>(spin_us);
  setup_primary(settings);
  auto w = cluster::fork();

  int pongs = 0, received = 0;
  uint64_t t0 = 0, t_ping_end = 0, t_blast0 = 0, t_blast_end = 0;
  const Message ping = {{"ping", 1}};
  w->on(ev::online, [&] {
    t0 = uv_hrtime();
    w->send(ping);
  });
  w->on(ev::message, [&](const Message& m) {
    if (pongs < roundtrips) {
      if (++pongs < roundtrips) {
        w->send(ping);
      } else {
        t_ping_end = uv_hrtime();
        t_blast0 = uv_hrtime();
        w->send({{"blast", messages}});
      }
      return;
    }
    if (m.is_object() && m.contains("done")) {
      t_blast_end = uv_hrtime();
      w->disconnect();
      return;
    }
    ++received;
  });
  run();
  if (received != messages) {
    std::fprintf(stderr, "ipc_bench: received %d of %d\n", received, messages);
    return 1;
  }
  double rtt_us = static_cast<double>(t_ping_end - t0) / roundtrips / 1e3;
  double msgs_per_s = messages / (static_cast<double>(t_blast_end - t_blast0) / 1e9);
  const std::string label = spin_us > 0 ? mode + "+spin" : mode;
  std::printf("{\"impl\":\"cppcluster\",\"mode\":\"%s\",\"rtt_us\":%.2f,\"msgs_per_s\":%.0f}\n", label.c_str(), rtt_us,
              msgs_per_s);
  return 0;
}
