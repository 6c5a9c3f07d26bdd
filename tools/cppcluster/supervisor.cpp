#include "supervisor.hpp"

#include "activation.hpp"
#include "admin.hpp"
#include "cluster_mode.hpp"
#include "exec_shim.hpp"
#include "listen.hpp"
#include "log_sink.hpp"
#include "logs.hpp"
#include "metrics.hpp"
#include "notify.hpp"
#include "proc_connections.hpp"
#include "reaper.hpp"
#include "reexec.hpp"
#include "reuseport.hpp"
#include "service_notify.hpp"
#include "watchdog.hpp"
#include "worker_output.hpp"

#include "cluster/cluster.hpp"
#include "cluster/pool.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cppcluster {
namespace {

using namespace std::chrono_literals;

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("cppcluster");
}

std::string worker_name(cluster::Worker& w) {
  return "worker " + std::to_string(w.id()) + " (pid " + std::to_string(w.process().pid()) + ")";
}

// Fills in the open connections of workers that do not report them (plain programs, Node
// workers): the established TCP connections among their descriptors, read from /proc.
void count_plain_connections(std::vector<cluster::WorkerSnapshot>& workers) {
  std::vector<pid_t> pids;
  for (const auto& w : workers) {
    if (!w.open_connections && w.pid > 0) pids.push_back(w.pid);
  }
  if (pids.empty()) return;
  const auto counts = established_connections(pids);
  for (auto& w : workers) {
    if (w.open_connections) continue;
    if (auto it = counts.find(w.pid); it != counts.end()) w.open_connections = it->second;
  }
}

// What the supervisor keeps about one worker, from its fork to its exit.
struct WorkerState {
  std::unique_ptr<NotifySocket> notify;
  cluster::Timer ready_delay;
  bool running = false;  // PROGRAM was exec'd
  std::string status;    // the last STATUS= it sent
};

class Supervisor {
 public:
  explicit Supervisor(const RunOptions& o) : opt_(o) {}

  int run() {
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
    if (opt_.admin_port >= 0) {
      try {
        admin_ = std::make_unique<AdminServer>(opt_.admin_host, opt_.admin_port,
                                               [this](const HttpRequest& r) { return serve(r, Access::admin); });
      } catch (const std::system_error& e) {
        log_line(e.what());
        close_all(sockets_);
        return 1;
      }
      log_line("admin on " + admin_->url());
    }
    if (!opt_.control.empty()) {
      try {
        control_ = std::make_unique<AdminServer>(UnixPath{opt_.control},
                                                 [this](const HttpRequest& r) { return serve(r, Access::control); });
      } catch (const std::system_error& e) {
        log_line(e.what());
        admin_.reset();
        close_all(sockets_);
        return 1;
      }
      log_line("control socket on " + opt_.control);
    }
    pool_->start();
    log_line("started " + std::to_string(pool_->size()) + " workers of " + opt_.command.front() +
             " (supervisor pid " + std::to_string(::getpid()) + ")");
    cluster::run();
    return exit_code_;
  }

 private:
  // After a re-exec: the previous image's sockets (and with --reuseport its groups' members, its
  // workers under -pid) are this image's.
  void resume_sockets() {
    log_line("re-executed in place (pid " + std::to_string(::getpid()) + "): " + std::to_string(sockets_.size()) +
             " sockets and " + std::to_string(upgrade_from_->workers.size()) + " workers of the previous image");
    if (opt_.reuseport) {
      reuse_ = std::make_unique<ReuseportGroups>(sockets_, opt_.backlog);
      std::vector<std::vector<std::pair<int, int>>> groups;
      for (const auto& g : upgrade_from_->groups) {
        auto& members = groups.emplace_back();
        for (const auto& m : g) members.emplace_back(m.fd, -m.pid);
      }
      reuse_->adopt(groups);
    }
    for (const auto& s : sockets_) log_line("listening on " + s.address + " (" + s.spec.name + ", kept across the re-exec)");
  }

  // After a re-exec: the previous image's workers serve until this image's are all ready.
  void adopt_previous_workers() {
    previous_ = std::make_unique<PreviousWorkers>(upgrade_from_->workers, [this](const InheritedWorker& w, int status) {
      log_line("previous worker " + std::to_string(w.id) + " (pid " + std::to_string(w.pid) + ")" +
               (status == -1 ? std::string(" exited")
                : WIFSIGNALED(status) ? " killed by " + std::string(cluster::signal_name(WTERMSIG(status)))
                                      : " exited with code " + std::to_string(WEXITSTATUS(status))));
      if (reuse_) reuse_->remove(-w.pid);
      if (previous_ && !previous_->any_alive()) {
        log_line("upgrade done: the previous workers are gone");
        if (!upgrade_from_->stale_dir.empty()) {
          std::error_code ec;
          std::filesystem::remove_all(upgrade_from_->stale_dir, ec);
        }
      }
    });
    if (reaper_) reaper_->skip([this](int pid) { return previous_ && previous_->owns(pid); });
  }

  // After a re-exec, once this image's workers are all ready: the previous ones are retired
  // (with --reuseport each drained first, as a reload does).
  void retire_previous_workers() {
    if (!previous_ || !previous_->serving() || pool_->ready_count() < pool_->size()) return;
    log_line("the new workers are ready: retiring the " + std::to_string(previous_->serving()) + " previous ones");
    if (reuse_) {
      for (const auto& w : upgrade_from_->workers) {
        const int pid = w.pid;
        reuse_->drain(-pid, std::min<std::chrono::milliseconds>(opt_.graceful_timeout, 5s), [this, pid] {
          if (previous_ && previous_->owns(pid)) ::kill(pid, opt_.stop_signal);
        });
      }
      previous_->retire(0, opt_.graceful_timeout);
    } else {
      previous_->retire(opt_.stop_signal, opt_.graceful_timeout);
    }
  }

  // Why an upgrade cannot start now ("" when it can).
  std::string upgrade_refusal() {
    if (stopping_ || not_ready_) return "the supervisor is stopping";
    if (opt_.mode == WorkerMode::cluster) return "not in --mode cluster (the workers' channels would close)";
    if (pool_->reloading()) return "a reload is running";
    if (previous_ && previous_->any_alive()) return "the previous upgrade has not retired its workers yet";
    return {};
  }

  // SIGUSR2 or POST /upgrade: execve() of the binary in place, handing over sockets and workers.
  void upgrade(const std::string& why) {
    if (const std::string no = upgrade_refusal(); !no.empty()) {
      log_line(why + ": no upgrade: " + no);
      return;
    }
    log_line(why + ": re-executing " + started_exe() + " in place (pid " + std::to_string(::getpid()) + ")");
    ReexecState st;
    st.sockets = sockets_;
    st.workers = pipes_->live();
    st.env = started_env();
    st.stale_dir = notify_dir_;
    if (reuse_) {
      for (const auto& g : reuse_->members()) {
        auto& members = st.groups.emplace_back();
        for (const auto& [fd, id] : g) {
          int pid = 0;
          for (const auto& w : st.workers) pid = w.id == id ? w.pid : pid;
          if (id == 0 || pid > 0) members.push_back({fd, pid});
        }
      }
    }
    service_->reloading();
    const std::error_code ec = reexec(st);
    log_line("re-exec of " + started_exe() + " failed: " + ec.message() + "; this image keeps running");
    if (service_ready_) service_->ready(service_status() + ", upgrade failed");
  }

  void start_reaper() {
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

  bool make_notify_dir() {
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

  void setup() {
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

    signals_.push_back(cluster::on_signal(SIGHUP, [this](int) { reload("SIGHUP"); }));
    signals_.push_back(cluster::on_signal(SIGUSR1, [](int) { reopen_log_file("SIGUSR1"); }));
    for (int sig : {SIGTERM, SIGINT}) {
      signals_.push_back(cluster::on_signal(sig, [this](int s) {
        if (stopping_) {
          log_line(std::string(cluster::signal_name(s)) + " again: stopping now");
          stop(0ms, exit_code_);
          return;
        }
        stop_gracefully(std::string(cluster::signal_name(s)));
      }));
    }
    signals_.push_back(cluster::on_signal(SIGQUIT, [this](int) {
      log_line("SIGQUIT: stopping now");
      stop(0ms, stopping_ ? exit_code_ : 0);
    }));
    signals_.push_back(cluster::on_signal(SIGTTIN, [this](int) { scale("SIGTTIN", pool_->size() + 1); }));
    signals_.push_back(cluster::on_signal(SIGUSR2, [this](int) { upgrade("SIGUSR2"); }));
    signals_.push_back(cluster::on_signal(SIGTTOU, [this](int) {
      if (pool_->size() > 1) scale("SIGTTOU", pool_->size() - 1);
    }));
  }

  // The actions of the signals and of the control socket; false when a stop has begun.
  bool reload(const std::string& why) {
    if (stopping_) return false;
    log_line(why + ": reloading");
    if (!pool_->reloading()) reload_started_ = std::chrono::steady_clock::now();
    service_->reloading();
    pool_->reload();
    return true;
  }
  bool scale(const std::string& why, unsigned n) {
    if (stopping_) return false;
    pool_->scale(n);
    log_line(why + ": " + std::to_string(pool_->size()) + " workers");
    return true;
  }
  void stop_gracefully(const std::string& why) {
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

  void on_fork(cluster::Worker& w) {
    auto& st = workers_[w.id()];
    outputs_.attach(w);
    const int id = w.id();
    if (opt_.mode == WorkerMode::cluster) return;  // no exec shim: ready once it listens
    std::string notify_path;
    if (opt_.ready.kind == ReadyMode::Kind::notify) {
      try {
        st.notify = std::make_unique<NotifySocket>(
            notify_dir_ + "/w" + std::to_string(id),
            [this, id](const std::map<std::string, std::string>& kv) { on_notify(id, kv); });
        notify_path = st.notify->path();
      } catch (const std::system_error& e) {
        log_line(worker_name(w) + ": " + e.what() + "; it will never be ready");
      }
    }
    // The channel closes when the shim execs PROGRAM (close-on-exec): the program runs.
    w.on(cluster::ev::disconnect, [this, id] { on_running(id); });
    if (reuse_ && !send_own_sockets(w)) return;
    w.send({{"cmd", shim_wire::go_cmd}, {"notify", notify_path}});
  }

  // --reuseport: the worker's own sockets, before the go-ahead; false (the worker killed) when
  // they cannot be opened.
  bool send_own_sockets(cluster::Worker& w) {
    std::vector<int> fds;
    try {
      fds = reuse_->add(w.id());
    } catch (const std::system_error& e) {
      log_line(worker_name(w) + ": " + e.what());
      w.kill(SIGKILL);
      return false;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      const bool udp = sockets_[i].spec.kind == ListenSpec::Kind::udp;
      w.send({{"cmd", shim_wire::socket_cmd}, {"index", i}},
             cluster::Handle::borrow(fds[i], udp ? cluster::HandleType::dgram_native : cluster::HandleType::net_native));
    }
    return true;
  }

  // --reuseport: new connections kept off a retiring worker's sockets, then its stop signal
  // once their queues are empty (what sits in a closing socket's queue would be reset).
  void drain_then_stop(cluster::Worker& w) {
    // Disconnected, it is no longer among cluster::workers(): held weakly instead.
    std::weak_ptr<cluster::Worker> weak = w.shared_from_this();
    reuse_->drain(w.id(), std::min<std::chrono::milliseconds>(opt_.graceful_timeout, 5s), [this, weak] {
      if (auto w2 = weak.lock(); w2 && !w2->is_dead()) w2->kill(opt_.stop_signal);
    });
  }

  template <class F>
  void with(int id, F&& f) {
    auto it = workers_.find(id);
    if (it != workers_.end()) f(it->second);
  }

  cluster::Worker* find_worker(int id) {
    auto all = cluster::workers();
    auto it = all.find(id);
    return it == all.end() ? nullptr : it->second.get();
  }

  void on_running(int id) {
    auto it = workers_.find(id);
    cluster::Worker* w = find_worker(id);
    if (it == workers_.end() || !w || w->is_dead()) return;
    it->second.running = true;
    if (opt_.ready.kind == ReadyMode::Kind::port) {
      pool_->mark_ready(*w);
    } else if (opt_.ready.kind == ReadyMode::Kind::delay) {
      it->second.ready_delay = cluster::set_timeout([this, id] {
        if (cluster::Worker* w2 = find_worker(id); w2 && !w2->is_dead()) pool_->mark_ready(*w2);
      }, opt_.ready.delay);
    }
  }

  void on_notify(int id, const std::map<std::string, std::string>& kv) {
    cluster::Worker* w = find_worker(id);
    if (!w || w->is_dead()) return;
    if (auto s = kv.find("STATUS"); s != kv.end()) {
      with(id, [&](WorkerState& ws) { ws.status = s->second; });
      log_line(worker_name(*w) + " status: " + s->second);
    }
    if (auto r = kv.find("READY"); r != kv.end() && r->second == "1") pool_->mark_ready(*w);
    if (auto d = kv.find("WATCHDOG"); d != kv.end() && d->second == "1") watchdogs_->ping(id);
    if (auto d = kv.find("WATCHDOG"); d != kv.end() && d->second == "trigger") watchdogs_->trigger(id);
    if (auto s = kv.find("STOPPING"); s != kv.end() && s->second == "1") {
      log_line(worker_name(*w) + " stopping");
      watchdogs_->forget(id);  // as systemd, which watches a service only while it runs
    }
  }

  void on_exit(cluster::Worker& w, int code, std::string_view sig) {
    auto it = workers_.find(w.id());
    if (it != workers_.end()) it->second.ready_delay.cancel();
    // Its last output may still be in the pipes: they are read to their end.
    outputs_.exited(w.id());
    watchdogs_->forget(w.id());
    if (reuse_) reuse_->remove(w.id());
    ++figures_.exits;
    log_line(worker_name(w) + (sig.empty() ? " exited with code " + std::to_string(code)
                                           : " killed by " + std::string(sig)));
    workers_.erase(w.id());
    tell_service();
  }

  // The pool's state in one line, for systemd's STATUS=.
  std::string service_status() {
    std::string s = std::to_string(pool_->ready_count()) + " of " + std::to_string(pool_->size()) + " workers ready";
    if (pool_->reloading()) s += ", reloading";
    if (stopping_) s += ", stopping";
    return s;
  }

  // READY=1 to systemd once min(--min-ready, workers) workers are ready, then STATUS= updates.
  void tell_service() {
    if (!service_ || !service_->enabled() || !pool_) return;
    if (!service_ready_ && !stopping_ && pool_->ready_count() >= std::min(opt_.min_ready, pool_->size())) {
      service_ready_ = true;
      service_->ready(service_status());
    } else {
      service_->status(service_status());
    }
  }

  PoolFigures figures() {
    PoolFigures f = figures_;
    f.watchdog_kills = watchdogs_ ? watchdogs_->replaced() : 0;
    f.workers = pool_->snapshot();
    count_plain_connections(f.workers);
    for (const auto& [id, ws] : workers_) {
      if (!ws.status.empty()) f.status_text[id] = ws.status;
    }
    f.target = pool_->size();
    f.ready = pool_->ready_count();
    f.draining = stopping_ || not_ready_;
    f.crash_looped = pool_->crash_looped();
    f.reloading = pool_->reloading();
    return f;
  }

  // Who asks: the HTTP endpoint (reads only) or the control socket (also the POST actions).
  enum class Access { admin, control };

  HttpReply serve(const HttpRequest& req, Access access) {
    const std::string& path = req.path;
    if (req.method == "POST" && access == Access::control) return act(req);
    if (req.method != "GET") return {405, "text/plain; charset=utf-8", "only GET\n"};
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      // After a re-exec the previous image's workers serve until this image's are ready.
      const unsigned ready = pool_->ready_count() + (previous_ ? previous_->serving() : 0u);
      if (stopping_ || not_ready_) return {503, "text/plain; charset=utf-8", "draining\n"};
      if (ready < opt_.min_ready) {
        return {503, "text/plain; charset=utf-8",
                std::to_string(ready) + " ready, " + std::to_string(opt_.min_ready) + " needed\n"};
      }
      return {200, "text/plain; charset=utf-8", std::to_string(ready) + " ready\n"};
    }
    if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", prometheus_text(figures())};
    if (path == "/status") return {200, "application/json", status_json(figures()).dump() + "\n"};
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  // POST /reload, /scale?workers=N, /stop on the control socket.
  HttpReply act(const HttpRequest& req) {
    const std::string text = "text/plain; charset=utf-8";
    if (stopping_ && req.path != "/stop") return {409, text, "the supervisor is stopping\n"};
    if (req.path == "/reload") {
      reload("control socket");
      return {200, text, "reloading " + std::to_string(pool_->size()) + " workers\n"};
    }
    if (req.path == "/scale") {
      unsigned n = 0;
      const std::string prefix = "workers=";
      if (req.query.rfind(prefix, 0) == 0) {
        const std::string v = req.query.substr(prefix.size());
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc{} || p != v.data() + v.size()) n = 0;
      }
      if (n < 1 || n > 4096) return {400, text, "scale: expected workers=N with N from 1 to 4096\n"};
      scale("control socket", n);
      return {200, text, std::to_string(n) + " workers\n"};
    }
    if (req.path == "/upgrade") {
      if (const std::string no = upgrade_refusal(); !no.empty()) return {409, text, "no upgrade: " + no + "\n"};
      // After this answer is written.
      upgrade_timer_ = cluster::set_timeout([this] { upgrade("control socket"); }, 100ms);
      return {200, text, "re-executing " + started_exe() + " in place (pid " + std::to_string(::getpid()) + ")\n"};
    }
    if (req.path == "/stop") {
      if (!stopping_) stop_gracefully("control socket");
      return {200, text, "stopping\n"};
    }
    return {404, text, "not found\n"};
  }

  void stop(std::chrono::milliseconds deadline, int code) {
    const bool first = !stopping_;
    shutdown_delay_.cancel();
    upgrade_timer_.cancel();
    if (first && previous_ && previous_->any_alive()) previous_->retire(opt_.stop_signal, deadline);
    stopping_ = true;
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

  void finish() {
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

}  // namespace

int run_supervisor(const RunOptions& options) {
  Supervisor s(options);
  return s.run();
}

}  // namespace cppcluster
