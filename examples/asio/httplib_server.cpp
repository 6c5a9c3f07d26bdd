// A cpp-httplib server as cluster workers: the primary forks WORKERS workers (default: one per
// CPU) serving PORT (default 8000; 0 picks a free one), each answering "hello from worker PID".
//
// cpp-httplib 0.11 (Debian's) cannot be handed a connection (its per-connection entry point is
// private) nor, through its public API, a listening descriptor: it binds its own socket
// (bind_to_port, then listen_after_bind), and its default socket options set SO_REUSEPORT. So
// every worker binds the same port and the kernel spreads the connections over them, as under
// the cluster's sched_reuseport; the cluster forks the workers, carries their messages and
// disconnects them. For PORT=0 the primary reserves a free port (a bound, never listening
// SO_REUSEPORT socket it keeps open) and gives it to the workers.
// cpp-httplib blocks in accept() and serves from its own thread pool (it has no event loop to
// share), so it runs on a second thread; the main thread runs the cluster's loop.
// SIGTERM or Ctrl-C: the workers disconnect, stop cpp-httplib (a keep-alive connection ends after
// its current request) and everything exits 0.
// WORKERS=0 runs cpp-httplib alone in one process, without the cluster (the benchmark's baseline).
#include <cluster/cluster.hpp>

#include <httplib.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int pid() { return static_cast<int>(getpid()); }

// cpp-httplib listens with a backlog of 5, which drops connections under load; this raises it
// (listen() again on a listening socket only changes the backlog).
class Server : public httplib::Server {
 public:
  Server() {
    Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello from worker " + std::to_string(pid()) + "\n", "text/plain");
    });
  }
  // Binds 0.0.0.0:port (a free port for 0) with SO_REUSEPORT and listens with a backlog of 511;
  // returns the port, or -1 when binding fails.
  int bind(int port) {
    const int bound = port == 0 ? bind_to_any_port("0.0.0.0") : bind_to_port("0.0.0.0", port) ? port : -1;
    return bound >= 0 && ::listen(svr_sock_, 511) == 0 ? bound : -1;
  }
};

// A free TCP port, kept reserved for SO_REUSEPORT sockets of this user while the returned
// descriptor stays open (bound, never listening: it takes no connections). -1 on failure.
int reserve_port(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  socklen_t len = sizeof in;
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  port = ntohs(in.sin_port);
  return fd;
}

int run_primary(int workers) {
  std::printf("Primary %d is running\n", pid());
  int port = env_int("PORT", 8000);
  if (port == 0 && reserve_port(port) < 0) {
    std::perror("reserving a port");
    return 1;
  }
  static bool failed = false;
  cluster::on(cluster::ev::message, [](cluster::Worker&, const cluster::Message& m, cluster::Handle&) {
    static bool said = false;
    if (m.value("cmd", "") == "listening" && !said) {
      said = true;
      std::printf("Listening on port %d\n", m.value("port", 0));
    }
  });
  cluster::on(cluster::ev::exit, [](cluster::Worker& w, int code, std::string_view signal) {
    std::printf("worker %d exited (%s)\n", w.process().pid(),
                signal.empty() ? std::to_string(code).c_str() : std::string(signal).c_str());
    if (code != 0 && !w.exited_after_disconnect().value_or(false)) failed = true;
  });
  for (int sig : {SIGINT, SIGTERM}) {
    cluster::on_signal(sig, [](int) {
      std::printf("Primary %d: disconnecting the workers\n", pid());
      cluster::disconnect();
    });
  }
  for (int i = 0; i < workers; ++i) cluster::fork({{"PORT", std::to_string(port)}});
  cluster::run();
  return failed ? 1 : 0;
}

int run_worker() {
  cluster::on_signal(SIGINT, [](int) {});  // Ctrl-C reaches the group: the primary decides
  static Server server;
  const int port = env_int("PORT", 8000);
  if (server.bind(port) < 0) {
    std::fprintf(stderr, "Worker %d: cannot listen on port %d\n", pid(), port);
    return 1;
  }
  std::thread http([] { server.listen_after_bind(); });
  // stop() does nothing before the listen loop runs: wait for it (it starts at once).
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Disconnected (by the primary or ourselves): stop accepting; the loop then ends.
  cluster::worker().on(cluster::ev::disconnect, [] { server.stop(); });
  cluster::worker().send({{"cmd", "listening"}, {"port", port}});
  std::printf("Worker %d started\n", pid());
  cluster::run();
  server.stop();
  http.join();
  return 0;
}

// cpp-httplib alone: one process, its own listen loop on the main thread.
int run_alone() {
  static Server server;
  const int port = server.bind(env_int("PORT", 8000));
  if (port < 0) {
    std::fprintf(stderr, "cannot listen on port %d\n", env_int("PORT", 8000));
    return 1;
  }
  std::printf("Listening on port %d\n", port);
  std::signal(SIGTERM, [](int) { server.stop(); });
  std::signal(SIGINT, [](int) { server.stop(); });
  server.listen_after_bind();
  return 0;
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int workers = env_int("WORKERS", static_cast<int>(cluster::available_parallelism()));
  if (!cluster::is_primary()) return run_worker();
  return workers <= 0 ? run_alone() : run_primary(workers);
}
