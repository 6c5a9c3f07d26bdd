// The reload figure: a pool of WORKERS (default 4) HTTP workers on a free port (PORT) under
// continuous load
// (CONNS keep-alive connections and CONNS connection-per-request clients, default 8 each, every
// request's outcome counted) is sent SIGHUP, and the figure is what that costs: how long the
// reload took (SIGHUP to the server's "reload done" line), the requests that failed, and the
// throughput before, during (mean; and the lowest 100 ms from SIGHUP to 2 s after the reload)
// and after it.
//
//   reload_bench <impl-name> <program> [args...]
//
// The program is a server printing "Listening on port N", one "Worker <pid> started" per worker
// and "reload done" once a reload ends (examples/hello_server, bench/node/reload_server.js).
// Prints one JSON line.
#include "../tests/support/child_lines.hpp"
#include "../tests/support/storm_client.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Answered requests of both clients so far.
std::uint64_t answered(storm::Client& a, storm::Client& b) {
  return a.counts()[storm::Outcome::ok] + b.counts()[storm::Outcome::ok];
}

// A port nothing listens on now (bound to 0 on 127.0.0.1 and closed), or 0.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) == 0) {
    port = ntohs(in.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: reload_bench <impl-name> <program> [args...]\n");
    return 2;
  }
  const std::string impl = argv[1];
  const int workers = env_int("WORKERS", 4), conns = env_int("CONNS", 8);
  std::vector<std::string> args(argv + 3, argv + argc);
  // A fixed free port, as a deployment has: a server that closes its port while no worker is up
  // (Node, restarting all at once) must find it again, not a new random one.
  const int free_port = pick_free_port();
  if (free_port == 0) {
    std::fprintf(stderr, "reload_bench: no free port\n");
    return 1;
  }
  child_lines::Child server(argv[2], {{"PORT", std::to_string(free_port)}, {"WORKERS", std::to_string(workers)}}, args);
  auto listening = server.wait_for("Listening on port ([0-9]+)", 1, 30s);
  if (listening.empty() || server.wait_for("^Worker [0-9]+ started", workers, 30s).empty()) {
    std::fprintf(stderr, "reload_bench: the server did not start\n%s", server.output().c_str());
    return 1;
  }
  const int port = std::stoi(listening[1]);
  storm::Client kept(port, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n", "hello world", conns, 10s, storm::Mode::keep_alive);
  storm::Client fresh(port, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", "hello world", conns);
  kept.start();
  fresh.start();

  // Samples every 100 ms: (time since SIGHUP in ms, answered so far).
  std::vector<std::pair<double, std::uint64_t>> samples;
  auto sample_until = [&](Clock::time_point t0, auto done) {
    while (!done()) {
      std::this_thread::sleep_for(100ms);
      samples.emplace_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), answered(kept, fresh));
    }
  };
  std::this_thread::sleep_for(1s);  // warm-up
  const auto before_start = Clock::now();
  const std::uint64_t before_n = answered(kept, fresh);
  std::this_thread::sleep_for(2s);
  const double before_rps = static_cast<double>(answered(kept, fresh) - before_n) /
                            std::chrono::duration<double>(Clock::now() - before_start).count();

  const auto t0 = Clock::now();
  samples.emplace_back(0.0, answered(kept, fresh));
  ::kill(server.pid(), SIGHUP);
  std::atomic<int> outcome{0};  // 1: reload done, 2: no such line in time
  Clock::time_point t_done;  // when the line was seen (the sampling below only runs every 100 ms)
  std::thread waiter([&] {
    const bool seen = !server.wait_for("reload done", 1, 120s).empty();
    t_done = Clock::now();
    outcome = seen ? 1 : 2;
  });
  sample_until(t0, [&] { return outcome.load() != 0; });
  waiter.join();
  const bool done = outcome == 1;
  const double duration_ms = std::chrono::duration<double, std::milli>(t_done - t0).count();
  // The throughput during the reload, over the samples that cover it (a little past its end).
  const double during_rps = static_cast<double>(samples.back().second - samples.front().second) /
                            std::max(samples.back().first / 1000.0, 0.001);
  const auto t1 = Clock::now();
  sample_until(t0, [&] { return Clock::now() - t1 >= 2s; });  // after: the retired workers leave
  const auto after_start = Clock::now();
  const std::uint64_t after_n = answered(kept, fresh);
  std::this_thread::sleep_for(1s);
  const double after_rps = static_cast<double>(answered(kept, fresh) - after_n) /
                           std::chrono::duration<double>(Clock::now() - after_start).count();
  kept.stop();
  fresh.stop();

  double lowest = before_rps;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    const double dt = (samples[i].first - samples[i - 1].first) / 1000.0;
    if (dt > 0) lowest = std::min(lowest, static_cast<double>(samples[i].second - samples[i - 1].second) / dt);
  }
  const storm::Counts k = kept.counts(), f = fresh.counts();
  if (!done) std::fprintf(stderr, "reload_bench: no 'reload done' within 120 s\n%s", server.output().c_str());
  std::fprintf(stderr, "reload_bench %s: keep-alive %s; per-request %s\n", impl.c_str(), k.summary().c_str(),
               f.summary().c_str());
  ::kill(server.pid(), SIGTERM);
  server.wait_exit(30s);
  std::printf(
      "{\"impl\":\"%s\",\"workers\":%d,\"reload_ms\":%.0f,\"failed\":%llu,\"failed_keepalive\":%llu,"
      "\"failed_per_request\":%llu,\"req_per_s_before\":%.0f,\"req_per_s_during\":%.0f,"
      "\"lowest_100ms_req_per_s\":%.0f,\"req_per_s_after\":%.0f}\n",
      impl.c_str(), workers, done ? duration_ms : -1.0, static_cast<unsigned long long>(k.failed() + f.failed()),
      static_cast<unsigned long long>(k.failed()), static_cast<unsigned long long>(f.failed()), before_rps,
      during_rps, lowest, after_rps);
  return done ? 0 : 1;
}
