// A plain HTTP server that has never heard of cppcluster: POSIX and epoll only, one thread. It
// takes its listening socket from systemd's socket activation (fd 3 when LISTEN_PID is its pid
// and LISTEN_FDS >= 1), else binds 0.0.0.0:$PORT (8080) itself. Every request gets
// "hello from pid P\n" and the connection stays open while the client keeps it alive. On SIGTERM
// it stops accepting, finishes the requests in hand and exits 0. `cppcluster run` runs it as a
// pool (examples/kubernetes/Dockerfile); bench/run.sh's cli figure measures it with and without.
//   g++ -O2 -std=c++20 -o plain_server plain_server.cpp
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

volatile sig_atomic_t stopping = 0;

int listening_socket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid && fds && std::atol(pid) == static_cast<long>(::getpid()) && std::atoi(fds) >= 1) return 3;
  const int port = std::getenv("PORT") ? std::atoi(std::getenv("PORT")) : 8080;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0) {
    std::perror("plain_server: bind/listen");
    std::exit(1);
  }
  return fd;
}

}  // namespace

int main() {
  struct sigaction sa{};
  sa.sa_handler = [](int) { stopping = 1; };
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const int lfd = listening_socket();
  ::fcntl(lfd, F_SETFL, ::fcntl(lfd, F_GETFL) | O_NONBLOCK);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  const std::string body = "hello from pid " + std::to_string(::getpid()) + "\n";
  std::unordered_map<int, std::string> conns;  // fd -> bytes of a request not complete yet
  std::printf("plain_server pid %d serving\n", ::getpid());
  std::fflush(stdout);
  bool accepting = true;
  std::chrono::steady_clock::time_point give_up{};
  // A client that sent half a request gets 10 s after SIGTERM to finish it.
  while (accepting || (!conns.empty() && std::chrono::steady_clock::now() < give_up)) {
    if (stopping && accepting) {
      // Stop taking connections; those in hand finish (a pool's other workers take new ones).
      ::epoll_ctl(ep, EPOLL_CTL_DEL, lfd, nullptr);
      ::close(lfd);
      accepting = false;
      give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      // Idle keep-alive connections are closed now: their client sees a clean close.
      for (auto it = conns.begin(); it != conns.end();) {
        if (it->second.empty()) {
          ::close(it->first);
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
      continue;
    }
    epoll_event events[64];
    const int n = ::epoll_wait(ep, events, 64, 200);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          epoll_event ce{EPOLLIN | EPOLLRDHUP, {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
          conns[c];
        }
        continue;
      }
      std::string& in = conns[fd];
      char buf[4096];
      ssize_t r;
      bool closed = false;
      while ((r = ::read(fd, buf, sizeof buf)) > 0) in.append(buf, static_cast<std::size_t>(r));
      if (r == 0 || (r < 0 && errno != EAGAIN)) closed = true;
      for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
        const std::string head = in.substr(0, end);
        in.erase(0, end + 4);
        const bool keep = head.find("HTTP/1.1") != std::string::npos && head.find("onnection: close") == std::string::npos &&
                          !stopping;
        const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                std::to_string(body.size()) + (keep ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + body;
        if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()) || !keep) {
          closed = true;
          break;
        }
      }
      if (closed) {
        ::close(fd);
        conns.erase(fd);
      }
    }
  }
  return 0;
}
