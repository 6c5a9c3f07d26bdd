// The request-counting example of Node's cluster documentation: workers serve HTTP on port
// 8000 (PORT overrides) and send {cmd: 'notifyRequest'} to the primary for every request; the
// primary prints the total every second. WORKERS overrides the number of workers; Ctrl-C or SIGTERM stops cleanly.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "example_util.hpp"
#include "http_lite.hpp"

using example::env_int;
using example::on_signals;

namespace {

long num_reqs = 0;

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cluster::is_primary()) {
    // Print the request count every second; the timer never keeps the primary alive by itself.
    cluster::set_interval([] { std::printf("numReqs = %ld\n", num_reqs), std::fflush(stdout); },
                          std::chrono::seconds(1)).unref();

    const int n = env_int("WORKERS", static_cast<int>(cluster::available_parallelism()));
    for (int i = 0; i < n; ++i) cluster::fork();
    for (auto& [id, w] : cluster::workers()) {
      w->on(cluster::ev::message, [](const cluster::Message& msg) {
        if (msg.is_object() && msg.value("cmd", "") == "notifyRequest") num_reqs += 1;
      });
    }
    on_signals({SIGINT, SIGTERM}, [](int) { cluster::disconnect(); });
  } else {
    on_signals({SIGINT}, [](int) {});
    auto server = http_lite::create_server([](const http_lite::Request&, http_lite::Response& res) {
      res.end("hello world\n");
      // Tell the primary about the request.
      cluster::worker().send({{"cmd", "notifyRequest"}});
    });
    server->listen(env_int("PORT", 8000));
  }
  return cluster::run();
}
