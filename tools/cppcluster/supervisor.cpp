// The Supervisor's run (supervisor.hpp): sockets bound or inherited, the pool set up and its
// events logged, reload, scale, the graceful and the immediate stop, and the end of the run.
#include "supervisor.hpp"

#include "activation.hpp"
#include "cluster_mode.hpp"
#include "exec_shim.hpp"
#include "log_sink.hpp"
#include "logs.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace cppcluster {
namespace {

using namespace std::chrono_literals;

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("cppcluster");
}

}  // namespace

int Supervisor::run() {
  // Before a deploy can replace the binary, and before systemd's variables leave the environment.
  started_exe();
  started_env();
  pipes_ = std::make_unique<WorkerPipes>();
  try {
    LogSink::instance().configure(opt_.log_format, opt_.log_file);
  } catch (const std::system_error& e) {
    log_line(e.what());
    return 1;
  }
  service_ = std::make_unique<ServiceNotifier>();
  if (service_->watchdog_interval_ms() > 0) {
    log_line("systemd watchdog: WATCHDOG=1 every " + std::to_string(service_->watchdog_interval_ms()) + " ms");
  }
  if (want_subreaper(opt_.subreaper)) start_reaper();
  upgrade_from_ = take_reexec_state();
  sockets_ = upgrade_from_ ? upgrade_from_->sockets : inherited_sockets();
  if (upgrade_from_) {
    resume_sockets();
  } else if (!sockets_.empty()) {
    if (!opt_.listen.empty()) log_line("--listen ignored: the sockets come from systemd (LISTEN_FDS)");
    if (opt_.reuseport) log_line("--reuseport ignored: the workers share systemd's sockets");
    for (const auto& s : sockets_) log_line("listening on " + s.address + " (" + s.spec.name + ", from systemd)");
  } else {
    try {
      sockets_ = bind_all(opt_.listen, opt_.backlog, opt_.reuseport ? Sharing::reuseport : Sharing::shared);
      if (opt_.reuseport) reuse_ = std::make_unique<ReuseportGroups>(sockets_, opt_.backlog);
    } catch (const std::system_error& e) {
      log_line(e.what());
      return 1;
    }
    for (const auto& s : sockets_) {
      log_line("listening on " + s.address + " (" + s.spec.name + (reuse_ ? ", reuseport: a socket per worker" : "") + ")");
    }
  }
  if (opt_.ready.kind == ReadyMode::Kind::notify && !make_notify_dir()) {
    close_all(sockets_);
    return 1;
  }
  setup();
  if (upgrade_from_) adopt_previous_workers();
  if (!open_admin(upgrade_from_ ? upgrade_from_->admin_fd : -1, upgrade_from_ ? upgrade_from_->control_fd : -1,
                  " (kept across the re-exec)")) {
    close_all(sockets_);
    return 1;
  }
  pool_->start();
  log_line("started " + std::to_string(pool_->size()) + " workers of " + opt_.command.front() +
           " (supervisor pid " + std::to_string(::getpid()) + ")");
  cluster::run();
  return exit_code_;
}

void Supervisor::start_reaper() {
  try {
    reaper_ = std::make_unique<Reaper>([](int pid, int status) {
      log_line("reaped orphan pid " + std::to_string(pid) +
               (WIFSIGNALED(status) ? " (killed by " + std::string(cluster::signal_name(WTERMSIG(status))) + ")"
                                    : " (exit code " + std::to_string(WEXITSTATUS(status)) + ")"));
    });
    log_line(::getpid() == 1 ? "PID 1: reaping orphaned processes" : "subreaper: reaping orphaned processes");
  } catch (const std::system_error& e) {
    log_line(std::string(e.what()) + "; orphans go to init");
  }
}

bool Supervisor::make_notify_dir() {
  std::string base = "/tmp";
  if (const char* t = std::getenv("TMPDIR"); t && *t && std::string(t).size() < 60) base = t;
  std::string templ = base + "/cppcluster-XXXXXX";
  if (!::mkdtemp(templ.data())) {
    log_line("cannot create a directory for the notify sockets in " + base + ": " + std::strerror(errno));
    return false;
  }
  notify_dir_ = templ;  // mkdtemp makes it 0700: only this user can send to the workers' sockets
  return true;
}

void Supervisor::setup() {
  if (opt_.mode == WorkerMode::cluster) set_cluster_mode_policy(opt_);
  std::vector<cluster::Stdio> stdio{cluster::Stdio::ignore(), cluster::Stdio::pipe(), cluster::Stdio::pipe()};
  std::string names;
  for (const auto& s : sockets_) {
    stdio.push_back(cluster::Stdio::from_fd(s.fd));
    names += (names.empty() ? "" : ":") + s.spec.name;
  }
  stdio.push_back(cluster::Stdio::ipc());
  std::vector<std::string> args{std::string(exec_shim_command), "--"};
  args.insert(args.end(), opt_.command.begin(), opt_.command.end());
  cluster::setup_primary({.exec = self_exe(), .args = args, .stdio = stdio});

  cluster::PoolOptions po;
  po.workers = opt_.workers;
  po.env[shim_wire::env_fds] = std::to_string(sockets_.size());
  po.env[shim_wire::env_fdnames] = names;
  po.env[shim_wire::env_supervisor_pid] = std::to_string(::getpid());
  watchdogs_ = std::make_unique<Watchdogs>(opt_.watchdog, std::min<std::chrono::milliseconds>(opt_.graceful_timeout, 5s),
                                           [this](int id) {
                                             with(id, [](WorkerState& ws) {
                                               if (ws.notify) ws.notify->read_pending();
                                             });
                                           });
  if (watchdogs_->enabled()) po.env[shim_wire::env_watchdog_usec] = std::to_string(watchdogs_->usec());
  po.ready_servers = 0;  // only an explicit ready counts (exec, notify, delay)
  po.ready_timeout = opt_.ready_timeout;
  po.retire_deadline = opt_.graceful_timeout;
  po.reload_batch = opt_.reload_batch;
  // A plain program has no channel (it closed at exec): disconnect() alone does nothing to it.
  // With --reuseport the signal waits until the worker's sockets are drained (drain_then_stop).
  po.retire_signal = reuse_ ? 0 : opt_.stop_signal;
  if (opt_.mode == WorkerMode::cluster) setup_cluster_mode(opt_, po);
  pool_ = std::make_unique<cluster::Pool>(po);

  cluster::on(cluster::ev::fork, [this](cluster::Worker& w) { on_fork(w); });
  cluster::on(cluster::ev::exit, [this](cluster::Worker& w, int code, std::string_view sig) {
    on_exit(w, code, sig);
  });
  pool_->on(cluster::ev::ready, [this](cluster::Worker& w) {
    log_line(worker_name(w) + " ready");
    watchdogs_->ready(w);
    retire_previous_workers();
    tell_service();
  });
  pool_->on(cluster::ev::retiring, [this](cluster::Worker& w) {
    watchdogs_->forget(w.id());
    log_line(worker_name(w) + " retiring");
    if (reuse_) drain_then_stop(w);
  });
  pool_->on(cluster::ev::respawn_scheduled, [](int slot, std::chrono::milliseconds delay) {
    log_line("respawning slot " + std::to_string(slot) + " in " + std::to_string(delay.count()) + " ms");
  });
  pool_->on(cluster::ev::reload, [this](std::error_code ec) {
    if (ec) {
      ++figures_.reload_failures;
    } else {
      ++figures_.reloads;
      figures_.last_reload_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - reload_started_).count();
    }
    log_line(ec ? "reload failed: a new worker did not get ready; the old workers keep serving"
                : "reload done");
    // Either way the pool serves again: systemd's reload ends (the STATUS says how it went).
    if (service_ready_ && !stopping_) service_->ready(service_status() + (ec ? ", last reload failed" : ""));
  });
  pool_->on(cluster::ev::crash_loop, [this](const std::system_error& e) {
    log_line(std::string("crash loop: ") + e.what() + "; stopping");
    stop(opt_.graceful_timeout, 1);
  });
  handle_signals();
}

bool Supervisor::reload(const std::string& why) {
  if (stopping_) return false;
  log_line(why + ": reloading");
  if (!pool_->reloading()) reload_started_ = std::chrono::steady_clock::now();
  service_->reloading();
  pool_->reload();
  return true;
}

bool Supervisor::scale(const std::string& why, unsigned n) {
  if (stopping_) return false;
  pool_->scale(n);
  log_line(why + ": " + std::to_string(pool_->size()) + " workers");
  return true;
}

void Supervisor::stop_gracefully(const std::string& why) {
  if (opt_.shutdown_delay.count() > 0 && !stopping_ && !not_ready_) {
    // A load balancer (Kubernetes' endpoints) needs a moment to see /readyz fail: the workers
    // keep serving meanwhile. The same signal again starts the drain at once.
    not_ready_ = true;
    log_line(why + ": /readyz now 503; stopping gracefully in " + std::to_string(opt_.shutdown_delay.count()) +
             " ms (--shutdown-delay)");
    shutdown_delay_ = cluster::set_timeout([this, why] { stop_gracefully(why); }, opt_.shutdown_delay);
    return;
  }
  log_line(why + ": stopping gracefully (at most " + std::to_string(opt_.graceful_timeout.count()) + " ms)");
  stop(opt_.graceful_timeout, 0);
}

void Supervisor::stop(std::chrono::milliseconds deadline, int code) {
  const bool first = !stopping_;
  shutdown_delay_.cancel();
  upgrade_timer_.cancel();
  if (first && previous_ && previous_->any_alive()) previous_->retire(opt_.stop_signal, deadline);
  stopping_ = true;
  if (upgrading_) exec_upgrade();  // not now: it serves its admin sockets again
  if (first) service_->stopping();
  watchdogs_->forget_all();
  exit_code_ = code;
  if (!first) {
    pool_->stop(deadline);  // a shorter deadline replaces the running one
    return;
  }
  pool_->stop(deadline, [this](const cluster::StopResult& r) {
    if (!r.killed.empty()) log_line(std::to_string(r.killed.size()) + " workers killed at the deadline");
    log_line("stopped");
    finish();
  });
}

void Supervisor::finish() {
  for (auto id : signals_) cluster::off_signal(id);
  signals_.clear();
  workers_.clear();
  admin_.reset();
  control_.reset();
  previous_.reset();
  pipes_.reset();
  reuse_.reset();
  reaper_.reset();
  close_all(sockets_);
  if (!notify_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(notify_dir_, ec);
  }
  // The library may hold timers or handles of its own a while longer: end now.
  service_->close();
  // The workers' last lines, still in their pipes, are written before the end.
  outputs_.when_drained([] { uv_stop(cluster::loop()); });
}

std::string Supervisor::service_status() {
  std::string s = std::to_string(pool_->ready_count()) + " of " + std::to_string(pool_->size()) + " workers ready";
  if (pool_->reloading()) s += ", reloading";
  if (stopping_) s += ", stopping";
  return s;
}

void Supervisor::tell_service() {
  if (!service_ || !service_->enabled() || !pool_) return;
  if (!service_ready_ && !stopping_ && pool_->ready_count() >= std::min(opt_.min_ready, pool_->size())) {
    service_ready_ = true;
    service_->ready(service_status());
  } else {
    service_->status(service_status());
  }
}

int run_supervisor(const RunOptions& options) {
  Supervisor s(options);
  return s.run();
}

}  // namespace cppcluster
