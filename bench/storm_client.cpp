// The kill-storm figure's client: CONCURRENCY (default 16) threads open one connection per
// request against 127.0.0.1:<port> while a child of <primary-pid> is SIGKILLed every
// <interval-ms> for <seconds>; then the load runs 1 s more and every request's outcome is counted.
// Prints one JSON line: {"impl":…,"policy":…,"kills":N,"ok":…,"refused":…,"reset":…,"closed":…,
// "timeout":…,"other":…,"failed":…,"unexplained":N,"hung":0|1}. "unexplained" counts failures
// no kill overlapped (the request was not held by a killed worker); "hung" is 1 when the clients
// could not finish within 15 s after the storm (the pool stopped answering).
// Usage: storm_client <impl> <policy> <port> <primary-pid> <seconds> [interval-ms]
#include "../tests/support/storm_client.hpp"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
  while (storm::now_ns() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval));
    auto kids = children(primary);
    if (kids.size() < 2) continue;  // never the last one
    std::sort(kids.begin(), kids.end());
    kills.push_back(storm::now_ns());
    ::kill(kids[next++ % kids.size()], SIGKILL);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
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
              "\"closed\":%llu,\"timeout\":%llu,\"other\":%llu,\"failed\":%llu,\"unexplained\":%zu,\"hung\":%d}\n",
              impl.c_str(), policy.c_str(), kills.size(), static_cast<unsigned long long>(c[storm::Outcome::ok]),
              static_cast<unsigned long long>(c[storm::Outcome::refused]),
              static_cast<unsigned long long>(c[storm::Outcome::reset]),
              static_cast<unsigned long long>(c[storm::Outcome::closed]),
              static_cast<unsigned long long>(c[storm::Outcome::timeout]),
              static_cast<unsigned long long>(c[storm::Outcome::other]),
              static_cast<unsigned long long>(c.failed()), unexplained, hung);
  std::fflush(stdout);
  if (hung) std::_Exit(0);  // threads still blocked in the hung pool: do not wait for them
  return 0;
}
