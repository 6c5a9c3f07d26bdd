#include "reaper.hpp"

#include "cluster/cluster.hpp"

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace cppcluster {
namespace {

// The parent pid in /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may hold spaces and
// parentheses, so it is read after the last ')'); -1 when unreadable.
int parent_of(const char* pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE* f = std::fopen(path, "re");
  if (!f) return -1;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  if (!close) return -1;
  char state = 0;
  int ppid = -1;
  if (std::sscanf(close + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

}  // namespace

bool want_subreaper(bool asked) { return asked || ::getpid() == 1; }

std::vector<int> foreign_children(const std::vector<int>& keep) {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  const int self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (parent_of(e->d_name) != self) continue;
    const int pid = std::atoi(e->d_name);
    if (std::find(keep.begin(), keep.end(), pid) == keep.end()) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

std::vector<int> loop_process_pids() {
  std::vector<int> pids;
  uv_walk(
      cluster::loop(),
      [](uv_handle_t* h, void* arg) {
        if (h->type != UV_PROCESS) return;
        const int pid = reinterpret_cast<uv_process_t*>(h)->pid;
        if (pid > 0) static_cast<std::vector<int>*>(arg)->push_back(pid);
      },
      &pids);
  return pids;
}

Reaper::Reaper(std::function<void(int, int)> on_reaped) : on_reaped_(std::move(on_reaped)) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot become a child subreaper");
  }
  sigchld_ = cluster::on_signal(SIGCHLD, [this](int) { reap(); });
  reap();  // orphans that were adopted already dead, before the listener
}

Reaper::~Reaper() { cluster::off_signal(sigchld_); }

int Reaper::reap() {
  int reaped = 0;
  for (int pid : foreign_children(loop_process_pids())) {
    if (skip_ && skip_(pid)) continue;
    int status = 0;
    // WNOHANG: a foreign child still running stays; its exit brings another SIGCHLD.
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ++reaped;
      if (on_reaped_) on_reaped_(pid, status);
    }
  }
  return reaped;
}

}  // namespace cppcluster
