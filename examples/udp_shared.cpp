// udp_shared: a UDP socket shared by workers (Node docs, dgram in a cluster).
//
// Two workers bind udp4 127.0.0.1 on port 0; the primary binds it once and every worker gets the
// same port. The primary sends 50 datagrams from a socket of its own, one after each answer; the
// worker that reads a datagram answers with its id. Under sched_rr and sched_none every worker
// reads one shared socket (whichever wakes first gets the datagram); under sched_reuseport each
// worker has its own socket and the kernel hashes each flow (here one source port) to one worker.
//
//   build/examples/udp_shared
//   NODE_CLUSTER_SCHED_POLICY=reuseport build/examples/udp_shared
//
// Prints (counts vary):
//   worker 1 bound udp4 127.0.0.1:41234
//   worker 2 bound udp4 127.0.0.1:41234
//   50 datagrams answered: worker 1: 31, worker 2: 19
#include <cluster/cluster.hpp>
#include <cluster/dgram.hpp>

#include <cstdio>
#include <map>
#include <string>

using namespace cluster;

int main() {
  constexpr int datagrams = 50;
  if (is_primary()) {
    cluster::fork();
    cluster::fork();
    static auto client = dgram::create_socket(dgram::Type::udp4);
    static std::map<std::string, int> answers;  // by worker
    static int sent = 0, bound = 0;
    on(ev::listening, [](Worker& w, const Address& a) {
      std::printf("worker %d bound udp4 %s:%d\n", w.id(), a.address.c_str(), a.port);
      if (++bound < 2) return;
      client->on(ev::message, [port = a.port](std::string_view from, const dgram::RemoteInfo&) {
        ++answers[std::string(from)];
        if (++sent < datagrams) {
          client->send("ping", port, "127.0.0.1");
          return;
        }
        std::string counts;
        for (const auto& [who, n] : answers) counts += ", " + who + ": " + std::to_string(n);
        std::printf("%d datagrams answered%s\n", datagrams, counts.c_str());
        client->close();
        cluster::disconnect();
      });
      client->send("ping", a.port, "127.0.0.1");  // binds the client to a random local port first
    });
  } else {
    auto s = dgram::create_socket(dgram::Type::udp4);
    s->on(ev::message, [s](std::string_view, const dgram::RemoteInfo& from) {
      s->send("worker " + std::to_string(worker().id()), from.port, from.address);
    });
    s->bind(0, "127.0.0.1");
  }
  return run();
}
