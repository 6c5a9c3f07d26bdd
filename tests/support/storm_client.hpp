// A connection-per-request load client that counts every request's outcome (ok, refused, reset,
// closed without an answer, timeout), for fault tests and the kill-storm benchmark. Each of
// `concurrency` threads connects, sends `request`, reads until the server closes, classifies,
// and starts again, until stop(). Header-only: the test binary and bench/storm_client share it.
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
#include <string>
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

class Client {
 public:
  // port on 127.0.0.1; an answer counts as ok when it ends (the server closes) and contains
  // expect; timeout bounds the connect and each read.
  Client(int port, std::string request, std::string expect, int concurrency,
         std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : port_(port), request_(std::move(request)), expect_(std::move(expect)), concurrency_(concurrency),
        timeout_(timeout) {}
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
    while (!stopping_) {
      const std::int64_t start = now_ns();
      std::string answer;
      const Outcome o = one(answer);
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

  Outcome one(std::string& answer) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Outcome::other;
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<std::uint16_t>(port_));
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0) {
      if (errno == ECONNREFUSED) return Outcome::refused;
      if (errno != EINPROGRESS) return Outcome::other;
      if (!wait(fd, POLLOUT)) return Outcome::timeout;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == ECONNREFUSED) return Outcome::refused;
      if (err == ECONNRESET) return Outcome::reset;
      if (err != 0) return Outcome::other;
    }
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
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        answer.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) return answer.find(expect_) != std::string::npos ? Outcome::ok : Outcome::closed;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (!wait(fd, POLLIN)) return Outcome::timeout;
        continue;
      }
      return errno == ECONNRESET ? Outcome::reset : Outcome::other;
    }
  }

  int port_;
  std::string request_;
  std::string expect_;
  int concurrency_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  Counts counts_;
};

}  // namespace storm
