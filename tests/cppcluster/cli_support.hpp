// Small helpers of the cppcluster process tests: a temp directory, a signalled stop, and a log
// file's lines waited for.
#pragma once

#include "support/child_lines.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cppcluster_test {

// A fresh mkdtemp directory (0700), removed with what it holds.
struct TempDir {
  // prefix: the name before the random part, e.g. "cppcluster-log".
  explicit TempDir(const std::string& prefix) {
    std::string t = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path = ::mkdtemp(t.data()) ? t : std::string();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;  // empty when mkdtemp failed
};

// Sends sig to the child and waits for its exit (60 s at most): its exit code, or -1 when it
// was killed by a signal or did not exit in time.
inline int signal_and_wait(child_lines::Child& c, int sig) {
  ::kill(c.pid(), sig);
  const int status = c.wait_exit(std::chrono::seconds(60));
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The complete lines of a file (a last line without its newline is still being written).
inline std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (std::size_t nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(all.substr(at, nl - at));
  return lines;
}

// Polls path until pred(its lines) holds, at most 60 s; true if it did.
template <class Pred>
inline bool wait_file(const std::string& path, Pred pred) {
  for (int i = 0; i < 3000; ++i) {
    if (pred(file_lines(path))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace cppcluster_test
