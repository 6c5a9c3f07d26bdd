// Fairness figure: WORKERS workers share a loopback port under the policy of
// NODE_CLUSTER_SCHED_POLICY (rr|none|reuseport); the primary opens CONNS short connections
// (CONCURRENCY at a time; each worker counts the connections it gets and closes them), then asks
// every worker for its count. Usage: fair_bench [workers=2] [conns=2000] [concurrency=10]. Prints
// one JSON line with max/min connections per worker. The Node.js twin is bench/node/fair_bench.js.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace cluster;

namespace {

int nworkers = 2, conns = 2000, concurrency = 10;
int port = 0, listening = 0, started = 0, finished = 0, failed = 0;
std::vector<int> counts;

void open_one() {
  ++started;
  auto s = net::Socket::connect(port);
  s->on(ev::error, [](const std::system_error&) { ++failed; });
  s->on(ev::close, [](bool) {
    if (++finished == conns) {
      for (auto& [id, w] : cluster::workers()) w->send({{"cmd", "count"}});
    } else if (started < conns) {
      open_one();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (is_worker()) {
    static int n = 0;
    static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
      ++n;
      s->end();
    });
    server->listen(0, "127.0.0.1");
    worker().on(ev::message, [](const Message&) { worker().send({{"count", n}}); });
    return run();
  }
  if (argc > 1) nworkers = std::atoi(argv[1]);
  if (argc > 2) conns = std::atoi(argv[2]);
  if (argc > 3) concurrency = std::atoi(argv[3]);
  setup_primary({.args = std::vector<std::string>{}});
  for (int i = 0; i < nworkers; ++i) cluster::fork();
  cluster::on(ev::listening, [](Worker&, const Address& a) {
    if (++listening != nworkers) return;
    port = a.port;
    for (int i = 0; i < concurrency && started < conns; ++i) open_one();
  });
  cluster::on(ev::message, [](Worker&, const Message& m, Handle&) {
    if (!m.is_object() || !m.contains("count")) return;
    counts.push_back(m["count"].get<int>());
    if (static_cast<int>(counts.size()) == nworkers) cluster::disconnect();
  });
  run();
  if (static_cast<int>(counts.size()) != nworkers || failed) {
    std::fprintf(stderr, "fair_bench: %zu of %d counts, %d failed connections\n", counts.size(), nworkers, failed);
    return 1;
  }
  const int mx = *std::max_element(counts.begin(), counts.end());
  const int mn = *std::min_element(counts.begin(), counts.end());
  const int p = scheduling_policy();
  std::string policy = p == sched_rr ? "rr" : p == sched_reuseport ? "reuseport" : "none";
  std::printf("{\"impl\":\"cppcluster\",\"policy\":\"%s\",\"workers\":%d,\"max_min\":%.3f,\"min_conns\":%d,"
              "\"max_conns\":%d}\n", policy.c_str(), nworkers, mn ? static_cast<double>(mx) / mn : 1e9, mn, mx);
  return 0;
}
