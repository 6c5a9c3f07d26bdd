// The kill-storm figure's pool: WORKERS (default 2) workers answer every connection at once with
// "pid:<pid>" and close it; a worker that dies is replaced at its exit. The primary prints
// "port <n>" once a worker listens (PORT, default 0: any free port) and stops on SIGTERM.
// bench/node/storm_pool.js is the same pool in Node.js; bench/storm_client loads and kills it.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>
#include <uv.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool stopping = false;

}  // namespace

int main() {
  if (cluster::is_primary()) {
    const int n = env_int("WORKERS", 2);
    for (int i = 0; i < n; ++i) cluster::fork();
    cluster::on(cluster::ev::exit, [](cluster::Worker& w, int, std::string_view) {
      if (!stopping && !w.exited_after_disconnect().value_or(false)) cluster::fork();
    });
    cluster::once(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
      std::printf("port %d\n", a.port);
      std::fflush(stdout);
    });
    static uv_signal_t term;
    uv_signal_init(cluster::loop(), &term);
    uv_signal_start(&term, [](uv_signal_t*, int) {
      stopping = true;
      cluster::disconnect();
    }, SIGTERM);
    uv_unref(reinterpret_cast<uv_handle_t*>(&term));
  } else {
    static const std::string answer = "pid:" + std::to_string(getpid()) + "\n";
    static auto server =
        cluster::net::create_server([](const std::shared_ptr<cluster::net::Socket>& s) { s->end(answer); });
    server->listen(env_int("PORT", 0), "127.0.0.1");
  }
  return cluster::run();
}
