// Upgrading the supervisor in place (SIGUSR2 or `cppcluster upgrade`): it execve()s its own binary,
// as found on disk at the path it was started from (so a binary replaced by a deploy is the new
// one), with the same arguments: same pid, so systemd's MAINPID, a container's PID 1 and every
// script's pid file stay right (unlike gunicorn's USR2, which forks a second master).
//
// What crosses the exec: the listening sockets, and those of --admin and --control
// (close-on-exec cleared; numbers, names and addresses in CPPCLUSTER_REEXEC_STATE, a JSON
// document), the running workers' pids, ids and the read ends of their stdout and stderr pipes
// (a worker writing to a closed pipe would die of SIGPIPE), with --reuseport the members of each
// group in the kernel's order, and the systemd variables the first image took out of its
// environment. The new image serves the same sockets (the admin and control ones too, so a probe
// is never refused and the control socket's file stays), forks a fresh generation of workers
// from the (new) PROGRAM, waits until they are all ready, then sends the previous generation
// --stop-signal (SIGKILL after --graceful-timeout); they are its children still, reaped by their
// pids, their output written by the new image's LogSink. The old workers serve meanwhile:
// nothing is refused. Not in --mode cluster: the workers' channels would close.
#pragma once

#include "listen.hpp"

#include "cluster/signal.hpp"
#include "cluster/timer.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace cppcluster {

// A worker of the previous image.
struct InheritedWorker {
  int pid = 0;
  int id = 0;
  int out_fd = -1;  // the read end of its stdout pipe, or -1
  int err_fd = -1;
};

// A member of a reuseport group: its socket and whose it is (0: the UDP placeholder).
struct GroupMember {
  int fd = -1;
  int pid = 0;
};

// Everything one image hands the next.
struct ReexecState {
  std::vector<BoundSocket> sockets;
  std::vector<InheritedWorker> workers;
  std::vector<std::vector<GroupMember>> groups;  // --reuseport: per --listen address
  std::map<std::string, std::string> env;        // variables to put back (NOTIFY_SOCKET, ...)
  std::string stale_dir;                         // the previous image's notify directory, to remove
  int admin_fd = -1;                             // --admin's listening socket, or -1
  int control_fd = -1;                           // --control's listening socket, or -1
};

// The path of this process's binary when first called (call it at start): readlink of
// /proc/self/exe, which later reads "PATH (deleted)" once a deploy replaced the file.
const std::string& started_exe();

// NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as they were when first called (call it at start,
// before the ServiceNotifier takes them out of the environment).
const std::map<std::string, std::string>& started_env();

// Keeps the pid and pipe read ends of every worker the cluster forks, until it exits.
class WorkerPipes {
 public:
  // Starts listening to the cluster's fork and exit events.
  WorkerPipes();
  WorkerPipes(const WorkerPipes&) = delete;
  WorkerPipes& operator=(const WorkerPipes&) = delete;
  ~WorkerPipes();
  // The live workers.
  std::vector<InheritedWorker> live() const;

 private:
  std::map<int, InheritedWorker> by_id_;
  cluster::listener_id fork_{}, exit_{};
};

// Replaces this process's image with started_exe() and the same arguments, handing it state.
// Returns only on failure (the error; the descriptors are made close-on-exec again).
std::error_code reexec(const ReexecState& state);

// In the new image: the state the previous image handed over, taken out of the environment
// (the descriptors made close-on-exec again, the saved variables put back); nullopt when this
// process was not started by a re-exec.
std::optional<ReexecState> take_reexec_state();

// The previous image's workers, in the new one: their output lines go to the LogSink as a
// worker's (log_sink.hpp), their exits reaped by pid (never waitpid(-1): libuv waits for its own).
class PreviousWorkers {
 public:
  // on_exit(worker, wait status) is told of each exit (status -1: reaped elsewhere, unknown).
  PreviousWorkers(std::vector<InheritedWorker> workers, std::function<void(const InheritedWorker&, int)> on_exit);
  PreviousWorkers(const PreviousWorkers&) = delete;
  PreviousWorkers& operator=(const PreviousWorkers&) = delete;
  // Stops reaping and forwarding (pipes closed).
  ~PreviousWorkers();
  // Sends sig to every one still alive now, and SIGKILL to those alive after deadline.
  void retire(int sig, std::chrono::milliseconds deadline);
  // True while one of them is alive.
  bool any_alive() const { return !alive_.empty(); }
  // How many are alive and not retired yet (they still serve).
  unsigned serving() const { return retired_ ? 0u : static_cast<unsigned>(alive_.size()); }
  // True for a pid of theirs still alive (not to be reaped by anyone else).
  bool owns(int pid) const;
  // Reaps those that exited.
  void reap();

 private:
  struct Pipe;
  std::vector<InheritedWorker> alive_;
  std::vector<Pipe*> pipes_;  // freed by their close callbacks
  std::function<void(const InheritedWorker&, int)> on_exit_;
  cluster::listener_id sigchld_{};
  cluster::Timer kill_timer_;
  bool retired_ = false;
};

}  // namespace cppcluster
