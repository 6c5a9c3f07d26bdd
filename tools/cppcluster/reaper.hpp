// The supervisor as a subreaper (PID 1 in a container, or --subreaper): orphaned descendants of
// the workers (a daemonizing program's grandchildren) are re-parented to it instead of to init,
// and it reaps them when they exit, so none stays a zombie.
//
// libuv waits for the workers itself, each by its pid (uv_spawn's SIGCHLD watcher): a
// waitpid(-1) here would steal their exit statuses and the pool would never see them exit. So on
// SIGCHLD the reaper lists this process's children (/proc/<pid>/stat whose parent is us:
// /proc/self/task/*/children needs CONFIG_PROC_CHILDREN, which kernels may lack) and waits only
// for those that are not libuv's processes (the loop's UV_PROCESS handles).
#pragma once

#include "cluster/signal.hpp"

#include <functional>
#include <vector>

namespace cppcluster {

// True when this process should be a subreaper: it is PID 1, or asked is set.
bool want_subreaper(bool asked);

// This process's children that are not in keep (the pids libuv waits for): every pid whose
// /proc/<pid>/stat names us as parent.
std::vector<int> foreign_children(const std::vector<int>& keep);

// The pids of the cluster loop's process handles (libuv's own children).
std::vector<int> loop_process_pids();

class Reaper {
 public:
  // Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER) and reaps foreign children on
  // every SIGCHLD; on_reaped(pid, wait status) is told of each. Throws std::system_error when
  // the kernel refuses the prctl.
  explicit Reaper(std::function<void(int, int)> on_reaped = {});
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;
  // Stops listening to SIGCHLD (the process stays a subreaper).
  ~Reaper();
  // Reaps the foreign children that have exited; the number reaped.
  int reap();
  // Leaves alone the children for which skip(pid) is true (another owner reaps them by pid).
  void skip(std::function<bool(int)> skip) { skip_ = std::move(skip); }

 private:
  cluster::listener_id sigchld_{};
  std::function<void(int, int)> on_reaped_;
  std::function<bool(int)> skip_;
};

}  // namespace cppcluster
