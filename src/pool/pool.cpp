// cluster::Pool's members: forking one into a slot, watching it until it is ready, and seeing it
// go (an exit, or for a worker that never started, a disconnect without a pid: Node gives no
// exit then). The Pool facade forwards to PoolCore.
#include "pool/pool_core.hpp"

#include "cluster/scheduler.hpp"
#include "pool/pool_wire.hpp"
#include "pool/proc_stats.hpp"

#include <algorithm>
#include <stdexcept>

namespace cluster {
namespace detail {

std::shared_ptr<Member> PoolCore::fork_member(int slot, bool incoming) {
  auto m = std::make_shared<Member>();
  m->slot = slot;
  m->incoming = incoming;
  m->generation = generation;
  m->rss_limit = jittered(opt.max_rss_bytes);
  m->connection_limit = jittered(opt.max_connections);
  if (heartbeats_on()) {
    Env env = opt.env;
    env[pool_wire::env_heartbeat] = "1";
    m->worker = cluster::fork(env);
    watch_heartbeat(m);
  } else {
    m->worker = cluster::fork(opt.env);
  }
  members.push_back(m);
  std::weak_ptr<PoolCore> wc = weak_from_this();
  std::weak_ptr<Member> wm = m;
  // Listeners hold weak pointers: the worker outlives neither the pool's care nor its own.
  auto live = [wc, wm]() -> std::pair<std::shared_ptr<PoolCore>, std::shared_ptr<Member>> {
    auto c = wc.lock();
    auto mm = wm.lock();
    if (!c || !mm || mm->gone) return {};
    return {c, mm};
  };
  Worker& w = *m->worker;
  w.on(ev::listening, [live] {
    auto [c, mm] = live();
    if (c && c->opt.ready_servers > 0 && ++mm->listening >= c->opt.ready_servers) c->mark_ready(mm);
  });
  w.on(ev::message, [live](const Message& msg) {
    auto [c, mm] = live();
    if (c && pool_wire::is_ready(msg)) c->mark_ready(mm);
  });
  w.on(ev::exit, [live] {
    auto [c, mm] = live();
    if (c) c->on_gone(mm);
  });
  w.on(ev::disconnect, [live] {
    auto [c, mm] = live();
    if (c && mm->worker->process().pid() == 0) c->on_gone(mm);  // never started: no exit will come
  });
  m->ready_timer = set_timeout([wc, wm] {
    auto c = wc.lock();
    auto mm = wm.lock();
    if (!c || !mm || mm->gone || mm->state != PoolWorkerState::starting) return;
    mm->failed_start = true;
    mm->worker->kill(SIGKILL);
  }, opt.ready_timeout);
  m->ready_timer.unref();  // the worker itself keeps the loop alive
  return m;
}

void PoolCore::mark_ready(const std::shared_ptr<Member>& m) {
  if (m->state != PoolWorkerState::starting) return;
  m->state = PoolWorkerState::ready;
  m->ready_at = Clock::now();
  m->ready_timer.cancel();
  owner.emit(ev::ready, *m->worker);
  if (m->incoming && !m->gone && m->state == PoolWorkerState::ready) promote(m);
}

void PoolCore::on_gone(const std::shared_ptr<Member>& m) {
  if (m->gone) return;
  m->gone = true;
  m->ready_timer.cancel();
  m->deadline_timer.cancel();
  m->kill_timer.cancel();
  unwatch_heartbeat(*m);
  members.erase(std::remove(members.begin(), members.end(), m), members.end());
  if (stopping) {
    stop_result.stopped.push_back(m->worker->id());
    if (m->killed_at_deadline) stop_result.killed.push_back(m->worker->id());
    finish_stop_if_done();
    return;
  }
  if (m->retire_asked && !m->failed_start) return;
  // Left on purpose (its own destroy(), or a disconnect() the user asked for): replaced, but not
  // counted toward a crash loop. Node's exitedAfterDisconnect.
  const bool voluntary =
      m->worker->exited_after_disconnect().value_or(false) && !m->failed_start && !m->hung;
  if (!voluntary) count_unexpected_exit();
  if (m->incoming) {
    incoming_failed(m);
    return;
  }
  schedule_respawn(m->slot, Clock::now() - m->started);
}

std::shared_ptr<Member> PoolCore::current_of(int slot) const {
  for (const auto& m : members) {
    if (m->slot == slot && !m->incoming && !m->retire_asked) return m;
  }
  return nullptr;
}

std::shared_ptr<Member> PoolCore::incoming_of(int slot) const {
  for (const auto& m : members) {
    if (m->slot == slot && m->incoming && !m->retire_asked) return m;
  }
  return nullptr;
}

}  // namespace detail

Pool::Pool(PoolOptions options) : core_(std::make_shared<detail::PoolCore>(*this, std::move(options))) {
  core_->target = core_->opt.workers ? core_->opt.workers : available_parallelism();
}

Pool::~Pool() {
  for (auto& s : core_->slots) s.respawn.cancel();
  core_->stop_health();
}

void Pool::start() {
  if (core_->started) throw std::logic_error("Pool::start called twice");
  if (!is_primary()) throw std::logic_error("Pool::start is for the primary");
  core_->started = true;
  // While the pool runs, a server stays open between one worker and its replacement.
  core_->servers_hold = hold_servers();
  core_->slots.resize(core_->target);
  for (unsigned i = 0; i < core_->target; ++i) core_->fork_member(static_cast<int>(i), false);
  core_->start_health();
}

void Pool::scale(unsigned n) {
  if (n == 0) throw std::invalid_argument("Pool::scale: at least one worker");
  auto& c = *core_;
  if (c.stopping) return;
  const unsigned old = c.target;
  c.target = n;
  if (!c.started) return;
  if (n > old) {
    c.slots.resize(n);
    for (unsigned i = old; i < n; ++i) c.fork_member(static_cast<int>(i), false);
    return;
  }
  for (unsigned i = n; i < old && i < c.slots.size(); ++i) c.slots[i].respawn.cancel();
  auto all = c.members;  // retire() edits nothing in members, but stay safe from listeners
  for (auto& m : all) {
    if (m->slot >= static_cast<int>(n)) c.retire(m, c.opt.retire_deadline);
  }
  c.slots.resize(n);
  c.reload_step();  // a reload waiting on a removed slot may now be complete
}

void Pool::reload() {
  if (!core_->started || core_->stopping) return;
  core_->start_reload();
}

void Pool::stop(std::chrono::milliseconds deadline, std::function<void(const StopResult&)> cb) {
  core_->servers_hold.reset();  // the servers close with the last worker, as without a pool
  core_->begin_stop(deadline, std::move(cb));
}

std::vector<WorkerSnapshot> Pool::snapshot() const {
  std::vector<WorkerSnapshot> out;
  const auto now = detail::Clock::now();
  for (const auto& m : core_->members) {
    WorkerSnapshot s;
    s.id = m->worker->id();
    s.pid = m->worker->process().pid();
    s.slot = m->slot;
    s.state = m->state;
    s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(now - m->started);
    if (m->slot < static_cast<int>(core_->slots.size())) {
      const auto& slot = core_->slots[static_cast<std::size_t>(m->slot)];
      s.restarts = slot.restarts;
      s.hangs = slot.hangs;
      s.recycles = slot.recycles;
    }
    if (s.pid > 0 && !m->worker->is_dead()) {
      s.rss_bytes = detail::read_rss_bytes(s.pid);
      s.cpu_time = detail::read_cpu_time(s.pid);
    }
    s.rss_limit_bytes = m->rss_limit;
    s.answers_heartbeat = m->heartbeat;
    if (m->heartbeat) {
      s.heartbeat_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - m->last_heartbeat);
    }
    if (m->worker->process().pid() > 0) {
      const ConnectionStats c = connection_stats(*m->worker);
      s.handed_off = c.handed_off;
      s.in_flight = c.in_flight;
      s.open_connections = c.open;
    }
    s.connection_limit = m->connection_limit;
    out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.slot < b.slot; });
  return out;
}

bool Pool::mark_ready(Worker& w) {
  for (const auto& m : core_->members) {
    if (m->worker.get() != &w) continue;
    if (m->gone || m->state != PoolWorkerState::starting) return false;
    core_->mark_ready(m);
    return true;
  }
  return false;
}

unsigned Pool::size() const noexcept { return core_->target; }

unsigned Pool::ready_count() const noexcept {
  return static_cast<unsigned>(std::count_if(core_->members.begin(), core_->members.end(),
                                             [](const auto& m) { return m->state == PoolWorkerState::ready; }));
}

bool Pool::crash_looped() const noexcept { return core_->crash_looped; }

bool Pool::reloading() const noexcept { return core_->reloading; }

const char* recycle_reason_name(RecycleReason r) noexcept {
  switch (r) {
    case RecycleReason::rss: return "rss";
    case RecycleReason::connections: return "connections";
  }
  return "unknown";
}

void ready() { worker().send({{"cmd", pool_wire::ready_cmd}}); }

}  // namespace cluster
