// `cppcluster run`: the supervisor. It binds the listen addresses, runs PROGRAM as a
// cluster::Pool of workers (each started through the exec shim, exec_shim.hpp), follows each
// worker's readiness (exec, sd_notify or a delay), prefixes their output, and maps the
// operator's signals onto the pool: HUP reload, TERM/INT graceful stop, QUIT immediate stop,
// TTIN/TTOU one worker more or less, USR1 log reopen, USR2 upgrade in place.
//
// The Supervisor's members live in one file per concern:
//   supervisor.cpp           its run: start, the pool's events, reload, scale, stop, the end
//   supervisor_workers.cpp   each worker from fork to exit: output, readiness, sd_notify, sockets
//   supervisor_signals.cpp   the operator's signals
//   supervisor_requests.cpp  what the admin endpoint and the control socket answer
//   supervisor_upgrade.cpp   the upgrade in place, both sides of the exec (reexec.hpp)
#pragma once

#include "admin.hpp"
#include "listen.hpp"
#include "metrics.hpp"
#include "notify.hpp"
#include "options.hpp"
#include "reaper.hpp"
#include "reexec.hpp"
#include "reuseport.hpp"
#include "service_notify.hpp"
#include "watchdog.hpp"
#include "worker_output.hpp"

#include "cluster/cluster.hpp"
#include "cluster/pool.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cppcluster {

// Runs the pool until a stop signal or a crash loop; returns the process's exit code (0 after
// a stop signal, 1 when an address cannot be bound or the workers crash-loop).
int run_supervisor(const RunOptions& options);

// "worker 3 (pid 1234)", as the supervisor's lines name a worker.
std::string worker_name(cluster::Worker& w);

// What the supervisor keeps about one worker, from its fork to its exit.
struct WorkerState {
  std::unique_ptr<NotifySocket> notify;
  cluster::Timer ready_delay;
  bool running = false;  // PROGRAM was exec'd
  std::string status;    // the last STATUS= it sent
};

// Who asks: the HTTP endpoint (reads only) or the control socket (also the POST actions).
enum class Access { admin, control };

class Supervisor {
 public:
  explicit Supervisor(const RunOptions& o) : opt_(o) {}

  // Binds (or inherits) the sockets, starts the pool and runs the loop until the stop ends;
  // the exit code (1 when a socket, the log file or the notify directory cannot be had).
  int run();

 private:
  // supervisor.cpp: the run.
  // Makes the pool (setup_primary with the exec shim, the pool's options) and listens to its
  // events and the signals.
  void setup();
  // Starts reaping orphans (PID 1 or --subreaper); logs why not when it cannot.
  void start_reaper();
  // Makes the 0700 directory of the workers' notify sockets; false, logged, when it cannot.
  bool make_notify_dir();
  // Starts a rolling reload; false when a stop has begun.
  bool reload(const std::string& why);
  // Keeps n workers; false when a stop has begun.
  bool scale(const std::string& why, unsigned n);
  // TERM, INT, POST /stop: /readyz 503 for --shutdown-delay first, then stop(--graceful-timeout).
  void stop_gracefully(const std::string& why);
  // Stops the pool within deadline, then finish(); a second call shortens the deadline.
  void stop(std::chrono::milliseconds deadline, int code);
  // Closes everything the run opened and ends the loop once the workers' output is drained.
  void finish();
  // The pool's state in one line, for systemd's STATUS=.
  std::string service_status();
  // READY=1 to systemd once min(--min-ready, workers) workers are ready, then STATUS= updates.
  void tell_service();

  // supervisor_workers.cpp: each worker.
  // A worker forked: its output read, its notify socket made, its sockets and go-ahead sent.
  void on_fork(cluster::Worker& w);
  // --reuseport: the worker's own sockets, before the go-ahead; false (the worker killed) when
  // they cannot be opened.
  bool send_own_sockets(cluster::Worker& w);
  // --reuseport: new connections kept off a retiring worker's sockets, then its stop signal
  // once their queues are empty (what sits in a closing socket's queue would be reset).
  void drain_then_stop(cluster::Worker& w);
  // Worker id exec'd PROGRAM: ready now (--ready port) or after --ready delay.
  void on_running(int id);
  // A datagram from worker id's notify socket: STATUS, READY, WATCHDOG, STOPPING.
  void on_notify(int id, const std::map<std::string, std::string>& kv);
  // A worker exited: its last output read, its watchdog and sockets dropped, the exit logged.
  void on_exit(cluster::Worker& w, int code, std::string_view sig);
  // Calls f with worker id's state; nothing when it has none.
  template <class F>
  void with(int id, F&& f) {
    auto it = workers_.find(id);
    if (it != workers_.end()) f(it->second);
  }

  // supervisor_signals.cpp: HUP, TERM, INT, QUIT, TTIN, TTOU, USR1, USR2 mapped onto the pool.
  void handle_signals();

  // supervisor_requests.cpp: the admin endpoint and the control socket.
  // The answer to req: GETs /healthz, /readyz, /metrics, /status; POSTs (control only) to act().
  HttpReply serve(const HttpRequest& req, Access access);
  // POST /reload, /scale?workers=N, /upgrade, /stop; 409 while stopping, 400 for a bad N.
  HttpReply act(const HttpRequest& req);
  // The pool's snapshot with the supervisor's counters, for /metrics and /status.
  PoolFigures figures();
  // Serves --admin and --control (on the listening sockets admin_fd and control_fd when >= 0,
  // handed over by upgrade(): then `whence` ends the line logged); false, logged, when one
  // cannot be bound or used.
  bool open_admin(int admin_fd, int control_fd, const std::string& whence = "");

  // supervisor_upgrade.cpp: the upgrade in place.
  // After a re-exec: the previous image's sockets (with --reuseport its groups' members, its
  // workers under -pid) are this image's.
  void resume_sockets();
  // After a re-exec: the previous image's workers serve until this image's are all ready.
  void adopt_previous_workers();
  // After a re-exec, once this image's workers are all ready: the previous ones are retired
  // (with --reuseport each drained first, as a reload does). Nothing before.
  void retire_previous_workers();
  // Why an upgrade cannot start now ("" when it can).
  std::string upgrade_refusal();
  // SIGUSR2 or POST /upgrade: the admin and control sockets stop accepting (still listening),
  // then exec_upgrade() once the connections they accepted are answered (1 s at the most).
  // Logged and nothing done when refused.
  void upgrade(const std::string& why);
  // execve() of the binary in place, handing over sockets and workers; returns only when the
  // exec failed or a stop began meanwhile (logged; this image serves its admin sockets again).
  void exec_upgrade();
  // The execve() with the state handed over; returns only when it failed (logged).
  void exec_now();

  RunOptions opt_;
  // First, so that it outlives everything whose callbacks may still report to it.
  std::unique_ptr<ServiceNotifier> service_;
  std::vector<BoundSocket> sockets_;
  std::unique_ptr<ReuseportGroups> reuse_;  // --reuseport
  std::unique_ptr<Reaper> reaper_;          // PID 1 or --subreaper
  cluster::Timer shutdown_delay_;           // --shutdown-delay after SIGTERM
  std::unique_ptr<WorkerPipes> pipes_;      // what a re-exec hands over
  std::optional<ReexecState> upgrade_from_; // set when this image was re-executed
  std::unique_ptr<PreviousWorkers> previous_;
  cluster::Timer upgrade_timer_;
  bool upgrading_ = false;                  // upgrade() waits to exec_upgrade()
  cluster::Timer exec_deadline_;            // how long it waits at the most
  int handed_admin_ = -1, handed_control_ = -1;  // the sockets it hands over
  bool not_ready_ = false;                  // /readyz 503 during the shutdown delay
  std::unique_ptr<cluster::Pool> pool_;
  std::unique_ptr<AdminServer> admin_, control_;
  PoolFigures figures_;
  std::chrono::steady_clock::time_point reload_started_{};
  std::map<int, WorkerState> workers_;
  WorkerOutputs outputs_;
  std::unique_ptr<Watchdogs> watchdogs_;  // --watchdog (made in setup(), off when 0)
  std::vector<cluster::listener_id> signals_;
  std::string notify_dir_;
  bool service_ready_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace cppcluster
