// A C++ program that links the library, run by `cppcluster run --mode cluster` as a real cluster
// worker: its server listens on $PORT (0: a free one) through the supervisor, its primary, and
// answers every HTTP request with "pid=P worker=ID\n" once the request's head is in. Started
// without NODE_UNIQUE_ID (not a worker) it says so and exits 2.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

int main() {
  if (!cluster::is_worker()) {
    std::fprintf(stderr, "cluster_worker: not started as a cluster worker\n");
    return 2;
  }
  const char* port = std::getenv("PORT");
  const std::string body = "pid=" + std::to_string(::getpid()) + " worker=" + std::to_string(cluster::worker().id()) + "\n";
  const std::string answer = "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\nConnection: close\r\n\r\n" + body;
  auto server = cluster::net::create_server([answer](const std::shared_ptr<cluster::net::Socket>& s) {
    auto in = std::make_shared<std::string>();
    std::weak_ptr<cluster::net::Socket> weak = s;
    s->on(cluster::ev::data, [in, weak, answer](std::string_view d) {
      in->append(d);
      if (in->find("\r\n\r\n") == std::string::npos) return;
      if (auto sock = weak.lock()) sock->end(answer);
    });
  });
  server->listen(port ? std::atoi(port) : 0, "127.0.0.1", [] {
    std::printf("serving pid=%d\n", ::getpid());
    std::fflush(stdout);
  });
  return cluster::run();
}
