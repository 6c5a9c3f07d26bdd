// UDP fairness figure: WORKERS workers bind one udp4 loopback port under the policy of
// NODE_CLUSTER_SCHED_POLICY (rr|none: Node's one shared socket; reuseport: one SO_REUSEPORT
// socket per worker, the kernel hashing flows). The primary runs FLOWS flows, CONCURRENCY at a
// time, each a new socket (its own source port) sending one datagram that the worker answers with
// its id (unanswered ones are sent again every 200 ms). Usage: udp_fair_bench [workers=3]
// [flows=3000] [concurrency=10]. Prints one JSON line with max/min flows per worker. The Node.js
// twin is bench/node/udp_fair_bench.js.
#include <cluster/cluster.hpp>
#include <cluster/dgram.hpp>
#include <cluster/timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

using namespace cluster;

namespace {

int nworkers = 3, flows = 3000, concurrency = 10;
int port = 0, listening = 0, started = 0, answered = 0, rounds = 0;
std::map<int, std::shared_ptr<dgram::Socket>> waiting;  // flow -> its client socket
std::map<int, int> by_worker;                           // worker id -> flows it answered
Timer resend;

void start_one() {
  const int n = started++;
  auto c = dgram::create_socket(dgram::Type::udp4);
  waiting[n] = c;
  c->on(ev::message, [n](std::string_view data, const dgram::RemoteInfo&) {
    auto it = waiting.find(n);
    if (it == waiting.end()) return;
    ++by_worker[std::atoi(std::string(data).c_str())];
    it->second->close();
    waiting.erase(it);
    ++answered;
    if (started < flows) {
      start_one();
    } else if (waiting.empty()) {
      resend.cancel();
      cluster::disconnect();
    }
  });
  c->bind(0, "127.0.0.1", [c] { c->send("who", port, "127.0.0.1"); });
}

}  // namespace

int main(int argc, char** argv) {
  if (is_worker()) {
    static auto sock = dgram::create_socket(dgram::Type::udp4);
    static const std::string id = std::to_string(worker().id());
    sock->on(ev::message, [](std::string_view, const dgram::RemoteInfo& r) { sock->send(id, r.port, r.address); });
    sock->bind(0, "127.0.0.1");
    return run();
  }
  if (argc > 1) nworkers = std::atoi(argv[1]);
  if (argc > 2) flows = std::atoi(argv[2]);
  if (argc > 3) concurrency = std::atoi(argv[3]);
  setup_primary({.args = std::vector<std::string>{}});
  for (int i = 0; i < nworkers; ++i) cluster::fork();
  cluster::on(ev::listening, [](Worker&, const Address& a) {
    if (++listening != nworkers) return;
    port = a.port;
    for (int i = 0; i < concurrency && started < flows; ++i) start_one();
    resend = set_interval([] {
      if (++rounds > 100) {  // 20 s without an answer: give up
        resend.cancel();
        for (auto& [n, c] : waiting) c->close();
        waiting.clear();
        cluster::disconnect();
        return;
      }
      for (auto& [n, c] : waiting) c->send("who", port, "127.0.0.1");
    }, std::chrono::milliseconds(200));
  });
  run();
  if (answered != flows) {
    std::fprintf(stderr, "udp_fair_bench: %d of %d flows answered\n", answered, flows);
    return 1;
  }
  int mx = 0, mn = flows;
  for (auto& [id, n] : by_worker) mx = std::max(mx, n);
  // A worker that answered nothing is missing from the map: its count is 0.
  for (auto& [id, n] : by_worker) mn = std::min(mn, n);
  if (static_cast<int>(by_worker.size()) < nworkers) mn = 0;
  const int p = scheduling_policy();
  std::string policy = p == sched_rr ? "rr" : p == sched_reuseport ? "reuseport" : "none";
  std::printf("{\"impl\":\"cppcluster\",\"policy\":\"%s\",\"workers\":%d,\"max_min\":%.3f,\"min_flows\":%d,"
              "\"max_flows\":%d}\n", policy.c_str(), nworkers, mn ? static_cast<double>(mx) / mn : 1e9, mn, mx);
  return 0;
}
