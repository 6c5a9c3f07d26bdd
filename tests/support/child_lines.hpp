// A child process whose output a test or benchmark waits on line by line (the demo server, the
// Node twin of a benchmark). POSIX and the standard library only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace child_lines {

using namespace std::chrono_literals;

// A program running as a child process with env added, its stdout and stderr read line by line
// by a thread. Destroying it SIGKILLs a child that has not been waited for.
class Child {
 public:
  Child(const std::string& path, const std::vector<std::pair<std::string, std::string>>& env,
        const std::vector<std::string>& args = {}) {
    // Everything exec needs is built before the fork: the child only duplicates and execs.
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
      const std::string var = *e;
      const std::string key = var.substr(0, var.find('='));
      bool replaced = key == "NODE_UNIQUE_ID" || key == "NODE_CHANNEL_FD";
      for (const auto& kv : env) replaced = replaced || kv.first == key;
      if (!replaced) vars.push_back(var);
    }
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp, argv{const_cast<char*>(path.c_str())};
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execvpe(path.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      std::string line;
      char c;
      while (::read(fd, &c, 1) == 1) {
        if (c != '\n') {
          line += c;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu_);
        lines_.push_back(line);
        line.clear();
        cv_.notify_all();
      }
      ::close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      if (!line.empty()) lines_.push_back(line);  // a last line without its newline
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }
  // The child's pid (-1 if the fork failed).
  int pid() const { return pid_; }
  // Waits until `count` lines match pattern (at most timeout); the last match's groups (the
  // whole match first), or nothing.
  std::vector<std::string> wait_for(const std::string& pattern, std::size_t count = 1,
                                    std::chrono::seconds timeout = 60s) {
    const std::regex re(pattern);
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<std::string> groups;
    cv_.wait_for(lock, timeout, [&] {
      std::size_t n = 0;
      for (const auto& l : lines_) {
        std::smatch m;
        if (!std::regex_search(l, m, re)) continue;
        if (++n < count) continue;
        groups.assign(m.begin(), m.end());
        return true;
      }
      return false;
    });
    return groups;
  }
  // Everything it printed so far.
  std::string output() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& l : lines_) s += "  | " + l + "\n";
    return s;
  }
  // Waits for the exit and the end of its output (at most timeout); its wait status, or -1 if it
  // did not exit.
  int wait_exit(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        // What it wrote before it exited is read before output() is asked for (a descendant
        // still holding the pipe open can delay the end: not past the timeout).
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_until(lock, end, [this] { return ended_; });
        return status;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  int pid_ = -1;
  bool reaped_ = false;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool ended_ = false;  // the reader saw the end of the output
};

}  // namespace child_lines
