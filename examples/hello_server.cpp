// The seed's first example: the primary forks one worker per CPU and every worker serves HTTP on
// the same port (8000, or PORT), answering "hello world" with the id of the worker that served.
// WORKERS overrides the number of workers. Ctrl-C (or SIGTERM) disconnects the workers and ends.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "example_util.hpp"
#include "http_lite.hpp"

using example::env_int;
using example::on_signals;

namespace {
bool listening = false;  // some worker listens
bool failed = false;     // a worker failed before any listened: the demo exits 1
}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cluster::is_primary()) {
    std::printf("Primary %d is running\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    const int n = env_int("WORKERS", static_cast<int>(cluster::available_parallelism()));
    for (int i = 0; i < n; ++i) cluster::fork();
    cluster::once(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
      listening = true;
      std::printf("Listening on port %d\n", a.port);
    });
    cluster::on(cluster::ev::exit, [](cluster::Worker& w, int code, std::string_view signal) {
      if (!w.exited_after_disconnect().value_or(false)) {
        std::printf("worker %d died (%s)\n", w.process().pid(),
                    signal.empty() ? std::to_string(code).c_str() : std::string(signal).c_str());
      }
      // A worker that could not serve (its port is taken, say) before any worker listened: the
      // demo cannot start, so it stops the others and exits non-zero.
      if (code != 0 && !listening && !failed) {
        failed = true;
        std::fprintf(stderr, "Primary %d: worker %d exited with code %d before listening; stopping\n",
                     static_cast<int>(getpid()), w.id(), code);
        cluster::disconnect();
      }
    });
    on_signals({SIGINT, SIGTERM}, [](int) {
      static bool stopping = false;
      if (stopping) {  // a second Ctrl-C: do not wait for open connections
        for (auto& [id, w] : cluster::workers()) w->kill(SIGKILL);
        return;
      }
      stopping = true;
      std::printf("Primary %d: disconnecting workers\n", static_cast<int>(getpid()));
      std::fflush(stdout);
      cluster::disconnect();
    });
  } else {
    // Ctrl-C reaches the whole process group; the primary decides how workers stop (SIGTERM
    // from worker.kill() still ends a worker).
    on_signals({SIGINT}, [](int) {});
    const std::string id = std::to_string(cluster::worker().id());
    auto server = http_lite::create_server([id](const http_lite::Request&, http_lite::Response& res) {
      res.set_header("X-Worker-Id", id);
      res.end("hello world\n");
    });
    server->on(cluster::ev::error, [](const std::system_error& e) {
      std::fprintf(stderr, "Worker %d: %s (%s)\n", static_cast<int>(getpid()), e.what(),
                   cluster::err_name(e.code()).c_str());
      std::exit(1);  // cannot serve: the primary sees exit code 1
    });
    server->listen(env_int("PORT", 8000));
    std::printf("Worker %d started\n", static_cast<int>(getpid()));
    std::fflush(stdout);
  }
  cluster::run();
  return failed ? 1 : 0;
}
