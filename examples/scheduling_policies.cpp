// scheduling_policies: who accepts connections (Node docs, cluster.schedulingPolicy).
//
// The policy comes from the first argument (rr, none or reuseport), set with
// set_scheduling_policy() before the first fork; without one, from NODE_CLUSTER_SCHED_POLICY,
// as in Node. Two workers listen on 127.0.0.1, port 0 (the same port for both); the primary opens
// 20 connections, one after another, and counts which worker answered each.
//   rr        the primary accepts and hands each connection to the worker offered the fewest
//   none      the workers accept from one shared socket: the kernel picks, often unevenly
//   reuseport one SO_REUSEPORT socket per worker: the kernel hashes each connection to one
//
//   build/examples/scheduling_policies rr
//   NODE_CLUSTER_SCHED_POLICY=none build/examples/scheduling_policies
//
// Prints (none and reuseport counts vary):
//   policy rr: 20 of 20 answered, worker 1: 10, worker 2: 10
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

using namespace cluster;

namespace {

constexpr int connections = 20;
std::map<std::string, int> answers;  // by worker

// Opens connection n to port; once it has been answered, the next one.
void connect_one(int port, int n) {
  auto s = net::Socket::connect(port);
  auto reply = std::make_shared<std::string>();
  s->on(ev::data, [reply](std::string_view d) { reply->append(d); });
  s->on(ev::close, [port, n, reply] {
    if (!reply->empty()) ++answers[*reply];
    if (n + 1 < connections) return connect_one(port, n + 1);
    int answered = 0;
    std::string counts;
    for (const auto& [who, k] : answers) answered += k, counts += ", " + who + ": " + std::to_string(k);
    const char* name = scheduling_policy() == sched_rr ? "rr" : scheduling_policy() == sched_none ? "none" : "reuseport";
    std::printf("policy %s: %d of %d answered%s\n", name, answered, connections, counts.c_str());
    cluster::disconnect();
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (is_primary()) {
    if (argc > 1) {
      const std::string p = argv[1];
      set_scheduling_policy(p == "none" ? sched_none : p == "reuseport" ? sched_reuseport : sched_rr);
    }
    try {
      cluster::fork();  // with an unknown NODE_CLUSTER_SCHED_POLICY: std::invalid_argument
      cluster::fork();
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "scheduling_policies: %s\n", e.what());
      return 2;
    }
    static int listening = 0;
    on(ev::listening, [](Worker&, const Address& a) {
      if (++listening == 2) connect_one(a.port, 0);
    });
  } else {
    net::create_server([](const std::shared_ptr<net::Socket>& s) {
      s->end("worker " + std::to_string(worker().id()));
    })->listen(0, "127.0.0.1");
  }
  return run();
}
