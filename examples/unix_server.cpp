// unix_server: workers sharing a Unix domain socket server (Node docs, server.listen(path)).
//
// The primary makes a private directory, and two workers listen on <dir>/cluster.sock through it
// (the primary binds the path once and hands each connection to a worker, round-robin). The
// primary then connects four times, one after another, prints each answer, and cleans up.
//
//   build/examples/unix_server
//
// Prints:
//   worker 1 listening on /tmp/cluster-XXXXXX/cluster.sock
//   reply 1: hello from worker 1
//   ...
//   reply 4: hello from worker 2
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

using namespace cluster;

namespace {

// Connects to path and prints the answer; after the fourth, lets the workers go.
void ask(const std::string& path, int n) {
  auto s = net::Socket::connect({.path = path});
  auto reply = std::make_shared<std::string>();
  s->on(ev::data, [reply](std::string_view d) { reply->append(d); });
  s->on(ev::close, [path, n, reply] {
    std::printf("reply %d: %s", n, reply->c_str());
    if (n < 4) return ask(path, n + 1);
    cluster::disconnect([path] {
      ::unlink(path.c_str());  // gone already if the primary's server closed it
      ::rmdir(path.substr(0, path.rfind('/')).c_str());
    });
  });
}

}  // namespace

int main() {
  if (is_primary()) {
    char dir[] = "/tmp/cluster-XXXXXX";
    if (!::mkdtemp(dir)) return 1;
    const std::string path = std::string(dir) + "/cluster.sock";
    cluster::fork({{"SOCKET_PATH", path}});
    cluster::fork({{"SOCKET_PATH", path}});
    static int listening = 0;
    on(ev::listening, [path](Worker& w, const Address& a) {
      std::printf("worker %d listening on %s\n", w.id(), a.address.c_str());
      if (++listening == 2) ask(path, 1);
    });
  } else {
    auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
      s->end("hello from worker " + std::to_string(worker().id()) + "\n");
    });
    net::ListenOptions where;
    where.path = std::getenv("SOCKET_PATH");
    server->listen(where);
  }
  return run();
}
