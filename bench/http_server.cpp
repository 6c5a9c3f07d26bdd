// HTTP hello world for the HTTP figures: the primary forks WORKERS workers (default 2) that share
// one port; the policy comes from NODE_CLUSTER_SCHED_POLICY (rr|none|reuseport), as in Node. --single
// serves from one process without cluster. --raw: plain TCP instead of HTTP, each connection ended at
// once with no data (the hand-off figure). --scheduler fair|least_connections|sticky: the sched_rr
// scheduler (Settings::scheduler; default fair).
// Usage: http_server [--single] [--raw] [--workers N] [--port P] [--scheduler S]
// Prints "ready <port>" once every worker listens (the driver, bench/http_bench.sh, waits for it).
// Runs until killed. The Node.js twin is bench/node/http_server.js.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "http_lite.hpp"

namespace {

bool raw = false;

// The server every process runs: HTTP hello world, or with --raw a TCP server that ends each connection.
std::shared_ptr<cluster::net::Server> hello() {
  using cluster::net::Socket;
  auto server = raw ? cluster::net::create_server([](const std::shared_ptr<Socket>& s) { s->end(); })
                    : http_lite::create_server([](const http_lite::Request&, http_lite::Response& res) {
                        res.set_header("Content-Type", "text/plain");
                        res.end("hello world\n");
                      });
  server->on(cluster::ev::error, [](const std::system_error& e) {
    std::fprintf(stderr, "http_server: %s\n", e.what());
    std::exit(1);
  });
  return server;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  bool single = false;
  int workers = 2, port = 0;
  std::string scheduler = "fair";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--single")) single = true;
    else if (!std::strcmp(argv[i], "--raw")) raw = true;
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) workers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--port") && i + 1 < argc) port = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--scheduler") && i + 1 < argc) scheduler = argv[++i];
  }
  if (single) {
    auto server = hello();
    server->listen(port, "127.0.0.1", [server] { std::printf("ready %d\n", server->address()->port); });
    return cluster::run();
  }
  if (cluster::is_primary()) {
    if (scheduler == "least_connections") {
      cluster::setup_primary({.scheduler = cluster::Scheduler::least_connections()});
    } else if (scheduler == "sticky") {
      cluster::setup_primary({.scheduler = cluster::Scheduler::sticky()});
    } else if (scheduler != "fair") {
      std::fprintf(stderr, "http_server: unknown scheduler %s (fair, least_connections, sticky)\n", scheduler.c_str());
      return 2;
    }
    for (int i = 0; i < workers; ++i) cluster::fork();
    static int listening = 0;
    static int want = workers;
    cluster::on(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
      if (++listening == want) std::printf("ready %d\n", a.port);
    });
    cluster::on(cluster::ev::exit, [](cluster::Worker&, int, std::string_view) { std::exit(1); });
  } else {
    auto server = hello();
    server->listen(port, "127.0.0.1");
  }
  return cluster::run();
}
