// The kill-storm figure's client: CONCURRENCY (default 16) threads open one connection per
// request against 127.0.0.1:<port> while a child of <primary-pid> is SIGKILLed every
// <interval-ms> for <seconds>; then the load runs 1 s more and every request's outcome is counted.
// Prints one JSON line: {"impl":…,"policy":…,"kills":N,"ok":…,"refused":…,"reset":…,"closed":…,
// "timeout":…,"other":…,"failed":…,"unexplained":N,"hung":0|1}. "unexplained" counts failures
// no kill overlapped (the request was not held by a killed worker); "hung" is 1 when the clients
// could not finish within 15 s after the storm (the pool stopped answering).
// With interval-ms 0 nothing is killed (bench/hostile_bench.sh). Also printed: "ok_per_s" during
// the storm, and the primary's largest RSS and descriptor count, sampled every 100 ms.
// Usage: storm_client <impl> <policy> <port> <primary-pid> <seconds> [interval-ms]
#include "../tests/support/storm_client.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::vector<int> children(int pid) {
  std::vector<int> out;
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int c;
  while (f >> c) out.push_back(c);
  return out;
}

// The resident memory of pid in KiB (0 if unknown).
long rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long v = 0;
  while (f >> key) {
    if (key == "VmRSS:") {
      f >> v;
      return v;
    }
  }
  return 0;
}

// The number of open descriptors of pid.
long fd_count(int pid) {
  long n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: storm_client <impl> <policy> <port> <primary-pid> <seconds> [interval-ms]\n");
    return 2;
  }
  const std::string impl = argv[1], policy = argv[2];
  const int port = std::atoi(argv[3]), primary = std::atoi(argv[4]), seconds = std::atoi(argv[5]);
  const int interval = argc > 6 ? std::atoi(argv[6]) : 200;
  const char* conc = std::getenv("CONCURRENCY");
  storm::Client client(port, "", "pid:", conc ? std::atoi(conc) : 16);
  client.start();
  std::vector<std::int64_t> kills;
  const std::int64_t end = storm::now_ns() + std::int64_t{seconds} * 1000000000;
  std::size_t next = 0;
  const std::int64_t begin = storm::now_ns();
  long max_rss_kb = 0, max_fds = 0;
  std::int64_t last_kill = begin;
  while (storm::now_ns() < end) {
    // The primary's memory and descriptors, sampled every 100 ms (a hostile worker must not grow them).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    max_rss_kb = std::max(max_rss_kb, rss_kb(primary));
    max_fds = std::max(max_fds, fd_count(primary));
    if (interval <= 0 || storm::now_ns() - last_kill < std::int64_t{interval} * 1000000) continue;
    last_kill = storm::now_ns();
    auto kids = children(primary);
    if (kids.size() < 2) continue;  // never the last one
    std::sort(kids.begin(), kids.end());
    kills.push_back(storm::now_ns());
    ::kill(kids[next++ % kids.size()], SIGKILL);
  }
  const double ok_per_s = static_cast<double>(client.counts()[storm::Outcome::ok]) * 1e9 /
                          static_cast<double>(storm::now_ns() - begin);
  std::this_thread::sleep_for(std::chrono::seconds(interval > 0 ? 1 : 0));
  client.request_stop();
  int hung = 0;
  for (int i = 0; i < 1500 && !client.finished(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!client.finished()) hung = 1;
  const storm::Counts c = client.counts();
  std::size_t unexplained = 0;
  for (const auto& f : c.failures) {
    const bool explained = std::any_of(kills.begin(), kills.end(), [&](std::int64_t k) {
      return f.start_ns <= k + 2000000 && k <= f.end_ns + 2000000;
    });
    unexplained += !explained;
  }
  std::printf("{\"impl\":\"%s\",\"policy\":\"%s\",\"kills\":%zu,\"ok\":%llu,\"refused\":%llu,\"reset\":%llu,"
              "\"closed\":%llu,\"timeout\":%llu,\"other\":%llu,\"failed\":%llu,\"unexplained\":%zu,\"hung\":%d,"
              "\"ok_per_s\":%.0f,\"primary_max_rss_mb\":%.1f,\"primary_max_fds\":%ld}\n",
              impl.c_str(), policy.c_str(), kills.size(), static_cast<unsigned long long>(c[storm::Outcome::ok]),
              static_cast<unsigned long long>(c[storm::Outcome::refused]),
              static_cast<unsigned long long>(c[storm::Outcome::reset]),
              static_cast<unsigned long long>(c[storm::Outcome::closed]),
              static_cast<unsigned long long>(c[storm::Outcome::timeout]),
              static_cast<unsigned long long>(c[storm::Outcome::other]),
              static_cast<unsigned long long>(c.failed()), unexplained, hung, ok_per_s,
              static_cast<double>(max_rss_kb) / 1024.0, max_fds);
  std::fflush(stdout);
  if (hung) std::_Exit(0);  // threads still blocked in the hung pool: do not wait for them
  return 0;
}
