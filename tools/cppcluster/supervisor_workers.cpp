// The Supervisor's workers (supervisor.hpp), each from its fork to its exit: its output read
// (worker_output.hpp), its notify socket and what it sends there (READY, STATUS, WATCHDOG,
// STOPPING), its readiness by --ready, its own sockets with --reuseport and their drain.
#include "supervisor.hpp"

#include "exec_shim.hpp"
#include "logs.hpp"

#include <algorithm>
#include <csignal>

namespace cppcluster {
namespace {

using namespace std::chrono_literals;

cluster::Worker* find_worker(int id) {
  auto all = cluster::workers();
  auto it = all.find(id);
  return it == all.end() ? nullptr : it->second.get();
}

}  // namespace

std::string worker_name(cluster::Worker& w) {
  return "worker " + std::to_string(w.id()) + " (pid " + std::to_string(w.process().pid()) + ")";
}

void Supervisor::on_fork(cluster::Worker& w) {
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

bool Supervisor::send_own_sockets(cluster::Worker& w) {
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

void Supervisor::drain_then_stop(cluster::Worker& w) {
  // Disconnected, it is no longer among cluster::workers(): held weakly instead.
  std::weak_ptr<cluster::Worker> weak = w.shared_from_this();
  reuse_->drain(w.id(), std::min<std::chrono::milliseconds>(opt_.graceful_timeout, 5s), [this, weak] {
    if (auto w2 = weak.lock(); w2 && !w2->is_dead()) w2->kill(opt_.stop_signal);
  });
}

void Supervisor::on_running(int id) {
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

void Supervisor::on_notify(int id, const std::map<std::string, std::string>& kv) {
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

void Supervisor::on_exit(cluster::Worker& w, int code, std::string_view sig) {
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

}  // namespace cppcluster
