// node_workers: a C++ primary running Node.js workers (Node's own wire protocol, both ways).
//
// settings exec_path "node" runs node_worker.js (next to this program) with node from PATH. Each
// worker is plain Node cluster code: it sends the primary a message and listens on 127.0.0.1,
// port 0, through the primary (round-robin, exactly as under a Node primary). The primary
// prints the messages, connects twice, prints the answers, and disconnects the workers; Node
// workers then exit by themselves.
//
//   build/examples/node_workers
//
// Prints (pids and versions vary):
//   worker 1 says {"hello":"from node","node":"v20.20.2","pid":4242}
//   worker 2 says {"hello":"from node","node":"v20.20.2","pid":4243}
//   reply: node worker 1
//   reply: node worker 2
//   worker 1 exited (0)
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

using namespace cluster;

namespace {

// Connects to port, prints the answer; after the second, lets the workers go.
void ask(int port, int n) {
  auto s = net::Socket::connect(port);
  auto reply = std::make_shared<std::string>();
  s->on(ev::data, [reply](std::string_view d) { reply->append(d); });
  s->on(ev::close, [port, n, reply] {
    std::printf("reply: %s", reply->c_str());
    if (n < 2) return ask(port, n + 1);
    cluster::disconnect();
  });
}

}  // namespace

int main() {
  const auto here = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  setup_primary({.exec_path = "node", .exec = (here / "node_worker.js").string()});
  on(ev::message, [](Worker& w, const Message& m) { std::printf("worker %d says %s\n", w.id(), m.dump().c_str()); });
  on(ev::exit, [](Worker& w, int code) { std::printf("worker %d exited (%d)\n", w.id(), code); });
  static int listening = 0;
  on(ev::listening, [](Worker&, const Address& a) {
    if (++listening == 2) ask(a.port, 1);
  });
  cluster::fork();
  cluster::fork();
  return run();
}
