// Blocking loopback clients for the server-sharing tests. They run on helper threads while the
// primary's loop runs; ClientThreads reports back on the loop through a uv_async_t.
#pragma once

#include <cluster/cluster.hpp>
#include <gtest/gtest.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace net_test {

// Where the clients connect: "tcp4" 127.0.0.1, "tcp6" ::1, or "unix" path.
struct Target {
  std::string transport = "tcp4";
  int port = 0;
  std::string path;
};

// Connects (blocking, 10 s receive timeout); -1 on failure.
inline int connect_to(const Target& t) {
  int fd = -1;
  if (t.transport == "unix") {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strncpy(un.sun_path, t.path.c_str(), sizeof un.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      ::close(fd);
      return -1;
    }
  } else if (t.transport == "tcp6") {
    fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<uint16_t>(t.port));
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6) != 0) {
      ::close(fd);
      return -1;
    }
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<uint16_t>(t.port));
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0) {
      ::close(fd);
      return -1;
    }
  }
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until EOF (or the timeout) and closes fd; "<recv error ...>" is appended on failure.
inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;  // SO_RCVTIMEO sockets are never restarted (signal(7))
    if (n < 0) out += "<recv error " + std::string(std::strerror(errno)) + ">";
    break;
  }
  ::close(fd);
  return out;
}

// Sends request and reads until EOF (or the timeout); "" with "<error>" on failure.
inline std::string request(const Target& t, const std::string& req) {
  int fd = connect_to(t);
  if (fd < 0) return "<connect error " + std::string(std::strerror(errno)) + ">";
  if (!req.empty() && ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return "<send error>";
  }
  return read_all(fd);
}

// Runs jobs on threads; on_each(index, result) runs on the loop as each finishes and on_done once
// all have. The object must outlive run_loop().
class ClientThreads {
 public:
  using Job = std::function<std::string()>;

  ClientThreads() {
    uv_async_init(cluster::loop(), &async_, [](uv_async_t* a) { static_cast<ClientThreads*>(a->data)->drain(); });
    async_.data = this;
  }
  ~ClientThreads() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // Starts one thread per job (at most `parallel` at a time, each running jobs in turn).
  void start(std::vector<Job> jobs, std::size_t parallel, std::function<void(std::size_t, const std::string&)> on_each,
             std::function<void()> on_done) {
    jobs_ = std::move(jobs);
    on_each_ = std::move(on_each);
    on_done_ = std::move(on_done);
    results_.assign(jobs_.size(), "");
    if (jobs_.empty()) {
      finish();
      return;
    }
    for (std::size_t p = 0; p < parallel && p < jobs_.size(); ++p) {
      threads_.emplace_back([this] {
        for (;;) {
          std::size_t i = next_.fetch_add(1);
          if (i >= jobs_.size()) return;
          std::string r = jobs_[i]();
          {
            std::lock_guard<std::mutex> lock(mu_);
            results_[i] = std::move(r);
            done_.push_back(i);
          }
          uv_async_send(&async_);
        }
      });
    }
  }
  const std::vector<std::string>& results() const { return results_; }

 private:
  void drain() {
    std::vector<std::size_t> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready.swap(done_);
    }
    for (std::size_t i : ready) {
      ++finished_;
      if (on_each_) on_each_(i, results_[i]);
    }
    if (finished_ == jobs_.size()) finish();
  }
  void finish() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    if (on_done_) on_done_();
  }

  uv_async_t async_{};
  std::vector<Job> jobs_;
  std::vector<std::string> results_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  std::mutex mu_;
  std::vector<std::size_t> done_;
  std::size_t finished_ = 0;
  std::function<void(std::size_t, const std::string&)> on_each_;
  std::function<void()> on_done_;
};

// Stops pid with SIGSTOP and waits (at most 10 s) until /proc shows it stopped.
inline bool stop_process(int pid) {
  if (::kill(pid, SIGSTOP) != 0) return false;
  for (int i = 0; i < 1000; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'T') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Stops a worker with SIGSTOP (stop_process). When that fails: records a test failure, kills the
// worker and disconnects `other` (if any) so the loop ends. Returns whether the worker stopped.
inline bool stop_worker(cluster::Worker& w, cluster::Worker* other) {
  if (stop_process(w.process().pid())) return true;
  ADD_FAILURE() << "could not stop worker " << w.id();
  w.kill(SIGKILL);
  if (other) other->disconnect();
  return false;
}

// A fresh directory for Unix sockets (mkdtemp under /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cppcluster-net-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace net_test

namespace net_test {

// Sets the scheduling policy for this test process; false when an earlier test in the same
// process froze another one (ctest runs each test in its own process, so this only matters for
// a hand-run of the whole binary).
inline bool use_policy(int policy) {
  if (cluster::scheduling_policy() == policy) return true;
  try {
    cluster::set_scheduling_policy(policy);
    return true;
  } catch (const std::logic_error&) {
    return false;
  }
}

}  // namespace net_test
