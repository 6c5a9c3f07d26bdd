// Small helpers of the cppcluster process tests: a temp directory and a signalled stop.
#pragma once

#include "support/child_lines.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

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

}  // namespace cppcluster_test
