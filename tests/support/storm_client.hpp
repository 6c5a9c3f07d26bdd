// A load client that counts every request's outcome (ok, refused, reset, closed without an
// answer, timeout), for fault tests and the kill-storm benchmark. Each of `concurrency` threads
// sends `request` again and again until stop():
// - connection per request (the default): connect, send, read until the server closes;
// - keep-alive (HTTP/1.1): one connection per thread, each response read by its Content-Length;
//   the thread reconnects when a response says "Connection: close" or the server closed the
//   connection after a whole response. A reused connection that ends before the next response
//   is complete counts as `closed` (or `reset`): a server must not close a connection a request
//   may be on its way to.
// Header-only: the test binary and bench/storm_client share it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <strings.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace storm {

enum class Outcome { ok, refused, reset, closed, timeout, other };

// The name of an outcome, as the reports print it.
inline const char* name(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::refused: return "refused";
    case Outcome::reset: return "reset";
    case Outcome::closed: return "closed";
    case Outcome::timeout: return "timeout";
    case Outcome::other: return "other";
  }
  return "?";
}

// Monotonic nanoseconds (the clock of every Failure and of the kills a test records).
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A request that did not end well: when it started and ended, and the answer's first bytes.
struct Failure {
  Outcome outcome;
  std::int64_t start_ns;
  std::int64_t end_ns;
  std::string partial;
};

// Counts per outcome, and each failure (the first max_failures of them).
struct Counts {
  std::uint64_t by[6] = {};
  std::vector<Failure> failures;
  std::uint64_t total() const { return by[0] + by[1] + by[2] + by[3] + by[4] + by[5]; }
  std::uint64_t failed() const { return total() - by[0]; }
  std::uint64_t operator[](Outcome o) const { return by[static_cast<int>(o)]; }
  // "ok=… refused=… reset=… closed=… timeout=… other=…"
  std::string summary() const {
    std::string s;
    for (int i = 0; i < 6; ++i) {
      s += (i ? " " : "") + std::string(name(static_cast<Outcome>(i))) + "=" + std::to_string(by[i]);
    }
    return s;
  }
};

// How a Client uses its connections.
enum class Mode { per_request, keep_alive };

class Client {
 public:
  // port on 127.0.0.1; an answer counts as ok when it ends (the server closes) and contains
  // expect; timeout bounds the connect and each read.
  Client(int port, std::string request, std::string expect, int concurrency,
         std::chrono::milliseconds timeout = std::chrono::seconds(10), Mode mode = Mode::per_request)
      : port_(port), request_(std::move(request)), expect_(std::move(expect)), concurrency_(concurrency),
        timeout_(timeout), mode_(mode) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { stop(); }

  // Starts the threads.
  void start() {
    running_ = concurrency_;
    for (int i = 0; i < concurrency_; ++i) {
      threads_.emplace_back([this] {
        run();
        --running_;
      });
    }
  }
  // Asks the threads to finish their current request, without waiting.
  void request_stop() { stopping_ = true; }
  // True once every thread has finished (after request_stop()).
  bool finished() const { return running_ == 0; }
  // Asks the threads to finish their current request and waits for them.
  void stop() {
    stopping_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }
  // A copy of the counts so far.
  Counts counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

  static constexpr std::size_t max_failures = 100000;

 private:
  void run() {
    Conn conn;
    while (!stopping_) {
      const std::int64_t start = now_ns();
      std::string answer;
      const Outcome o = mode_ == Mode::keep_alive ? one_kept(conn, answer) : one(answer);
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_.by[static_cast<int>(o)];
      if (o != Outcome::ok && counts_.failures.size() < max_failures) {
        counts_.failures.push_back({o, start, now_ns(), answer.substr(0, 64)});
      }
    }
  }

  // Waits for fd to be ready for events; false on timeout.
  bool wait(int fd, short events) {
    pollfd p{fd, events, 0};
    int r;
    do {
      r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    } while (r < 0 && errno == EINTR);
    return r > 0;
  }

  // A connected socket, closed when it goes.
  struct Conn {
    int fd = -1;
    int uses = 0;  // responses read on it
    ~Conn() { reset(); }
    void reset() {
      if (fd >= 0) ::close(fd);
      fd = -1;
      uses = 0;
    }
  };

  // Connects c to the port; ok or how it failed.
  Outcome connect(Conn& c) {
    c.reset();
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return Outcome::other;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<std::uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0) {
      if (errno == ECONNREFUSED) return Outcome::refused;
      if (errno != EINPROGRESS) return Outcome::other;
      if (!wait(c.fd, POLLOUT)) return Outcome::timeout;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == ECONNREFUSED) return Outcome::refused;
      if (err == ECONNRESET) return Outcome::reset;
      if (err != 0) return Outcome::other;
    }
    return Outcome::ok;
  }

  // Sends the request on fd; ok or how it failed.
  Outcome send_request(int fd) {
    std::size_t sent = 0;
    while (sent < request_.size()) {
      const ssize_t n = ::send(fd, request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(fd, POLLOUT)) return Outcome::timeout;
      } else {
        return errno == ECONNRESET || errno == EPIPE ? Outcome::reset : Outcome::other;
      }
    }
    return Outcome::ok;
  }

  // Reads some bytes into answer: n > 0, 0 at the end, or how it failed (through out).
  ssize_t receive(int fd, std::string& answer, Outcome& out) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n >= 0) {
        answer.append(buf, static_cast<std::size_t>(n));
        return n;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!wait(fd, POLLIN)) {
          out = Outcome::timeout;
          return -1;
        }
        continue;
      }
      out = errno == ECONNRESET ? Outcome::reset : Outcome::other;
      return -1;
    }
  }

  Outcome one(std::string& answer) {
    Conn c;
    if (Outcome o = connect(c); o != Outcome::ok) return o;
    if (Outcome o = send_request(c.fd); o != Outcome::ok) return o;
    for (;;) {
      Outcome failed = Outcome::other;
      const ssize_t n = receive(c.fd, answer, failed);
      if (n < 0) return failed;
      if (n == 0) return answer.find(expect_) != std::string::npos ? Outcome::ok : Outcome::closed;
    }
  }

  // The value of header name (case-insensitive) in an HTTP head, or empty.
  static std::string_view header(std::string_view head, std::string_view name) {
    std::size_t at = head.find("\r\n");
    while (at != std::string_view::npos && at + 2 < head.size()) {
      const std::size_t line = at + 2;
      const std::size_t end = head.find("\r\n", line);
      const std::string_view l = head.substr(line, end == std::string_view::npos ? end : end - line);
      if (l.size() > name.size() && l[name.size()] == ':' && ::strncasecmp(l.data(), name.data(), name.size()) == 0) {
        std::string_view v = l.substr(name.size() + 1);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        return v;
      }
      at = end;
    }
    return {};
  }

  // One HTTP request on the thread's kept connection (connecting first if it has none).
  Outcome one_kept(Conn& c, std::string& answer) {
    if (c.fd < 0) {
      if (Outcome o = connect(c); o != Outcome::ok) {
        c.reset();
        return o;
      }
    }
    if (Outcome o = send_request(c.fd); o != Outcome::ok) {
      c.reset();
      return o;
    }
    std::size_t head_end = std::string::npos, length = 0;
    for (;;) {
      if (head_end == std::string::npos && (head_end = answer.find("\r\n\r\n")) != std::string::npos) {
        length = std::strtoul(std::string(header(std::string_view(answer).substr(0, head_end), "Content-Length")).c_str(),
                              nullptr, 10);
      }
      if (head_end != std::string::npos && answer.size() >= head_end + 4 + length) break;
      Outcome failed = Outcome::other;
      const ssize_t n = receive(c.fd, answer, failed);
      if (n <= 0) {
        c.reset();
        return n == 0 ? Outcome::closed : failed;
      }
    }
    const std::string_view head = std::string_view(answer).substr(0, head_end);
    const std::string_view connection = header(head, "Connection");
    const bool close = connection.size() >= 5 && ::strncasecmp(connection.data(), "close", 5) == 0;
    ++c.uses;
    if (close) c.reset();
    return answer.find(expect_) != std::string::npos ? Outcome::ok : Outcome::other;
  }

  int port_;
  std::string request_;
  std::string expect_;
  int concurrency_;
  std::chrono::milliseconds timeout_;
  Mode mode_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  Counts counts_;
};

}  // namespace storm
