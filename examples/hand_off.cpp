// Handing connections to another framework: the cluster shares the port and balances the
// connections (round-robin by default); each worker takes every connection's descriptor with
// release_fd() and gives it to code that knows nothing of cppcluster (here a thread doing
// blocking reads and writes, standing in for Asio, Beast, gRPC...). PORT (default 8000) and
// WORKERS as in hello_server; Ctrl-C stops.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

// The "other framework": owns fd from here on.
void serve_elsewhere(int fd, int worker_id) {
  std::thread([fd, worker_id] {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    char buf[4096];
    if (::read(fd, buf, sizeof buf) > 0) {
      const std::string body = "handled outside cppcluster by worker " + std::to_string(worker_id) + "\n";
      const std::string res = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body;
      (void)!::write(fd, res.data(), res.size());
    }
    ::close(fd);
  }).detach();
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cluster::is_primary()) {
    const char* w = std::getenv("WORKERS");
    const int n = w ? std::atoi(w) : static_cast<int>(cluster::available_parallelism());
    for (int i = 0; i < n; ++i) cluster::fork();
    static cluster::listener_id sig = cluster::on_signal(SIGINT, [](int) {
      cluster::disconnect();
      cluster::off_signal(sig);
    });
  } else {
    cluster::on_signal(SIGINT, [](int) {});  // Ctrl-C reaches the workers too: the primary decides
    auto server = cluster::net::create_server([](const std::shared_ptr<cluster::net::Socket>& socket) {
      // Taken before any byte is read, so the other side sees the whole stream.
      int fd = socket->release_fd();
      if (fd >= 0) serve_elsewhere(fd, cluster::worker().id());
    });
    const char* port = std::getenv("PORT");
    server->listen(port ? std::atoi(port) : 8000);
    std::printf("Worker %d hands its connections over\n", static_cast<int>(getpid()));
  }
  return cluster::run();
}
