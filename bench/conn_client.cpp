// Connection-rate load client for the hand-off figure (bench/http_bench.sh, mode raw): keeps
// CONCURRENCY connections to 127.0.0.1:PORT in flight for SECONDS; each one connects, waits for the
// server to close it (read returns 0), is closed here and counted, and the next one is opened.
// Failures (refused, reset, ...) are counted apart. Plain POSIX + epoll, one thread, no cppcluster.
// With SOURCES > 1 the connections come from SOURCES source addresses in turn (127.0.0.1, .2, ...),
// as many clients would (the sticky scheduler's figure).
// Usage: conn_client <port> [concurrency=50] [seconds=5] [sources=1]. Prints one JSON line
//   {"conns":N,"errors":E,"seconds":S,"conns_per_s":X}
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

sockaddr_in server_addr{};
int ep = -1;
long conns = 0, errors = 0;
int sources = 1, next_source = 0;
clock_type::time_point deadline;

// Opens one non-blocking connection (retrying one refused at once, until the deadline) and watches
// it for the server's close; false on a local failure (no descriptor, epoll).
bool open_one() {
  int fd = -1;
  for (;;) {
    if (clock_type::now() >= deadline) return true;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    if (sources > 1) {
      // The port is chosen at connect (IP_BIND_ADDRESS_NO_PORT), from the whole ephemeral range.
      const int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + static_cast<uint32_t>(next_source));
      next_source = (next_source + 1) % sources;
      if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        close(fd);
        return false;
      }
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&server_addr), sizeof server_addr) == 0 ||
        errno == EINPROGRESS)
      break;
    ++errors;  // refused at once: counted, and the next one is tried
    close(fd);
  }
  epoll_event e{};
  e.events = EPOLLIN | EPOLLRDHUP;
  e.data.fd = fd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
    close(fd);
    return false;
  }
  return true;
}

// Handles readiness on fd: true when the connection is finished (closed here, counted).
bool on_ready(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) continue;  // the raw server sends nothing; drain whatever comes
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) ++conns;
    else ++errors;  // ECONNREFUSED, ECONNRESET, ...
    close(fd);  // also removes it from the epoll set
    return true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: conn_client <port> [concurrency=50] [seconds=5]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int concurrency = argc > 2 ? std::atoi(argv[2]) : 50;
  const double seconds = argc > 3 ? std::atof(argv[3]) : 5;
  sources = argc > 4 ? std::max(1, std::min(std::atoi(argv[4]), 254)) : 1;
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons(static_cast<uint16_t>(port));
  server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("conn_client: epoll_create1");
    return 1;
  }

  const auto start = clock_type::now();
  deadline = start + std::chrono::duration_cast<clock_type::duration>(
                                    std::chrono::duration<double>(seconds));
  for (int i = 0; i < concurrency; ++i) {
    if (!open_one()) {
      std::perror("conn_client: socket");
      return 1;
    }
  }
  std::vector<epoll_event> events(static_cast<size_t>(concurrency > 0 ? concurrency : 1));
  while (clock_type::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                             static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) {
      std::perror("conn_client: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      if (!on_ready(events[i].data.fd)) continue;
      if (!open_one()) {
        std::perror("conn_client: socket");
        return 1;
      }
    }
  }
  // Connections still in flight at the deadline are neither counted nor waited for.
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("{\"conns\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"conns_per_s\":%.1f}\n", conns, errors,
              elapsed, static_cast<double>(conns) / elapsed);
  return 0;
}
