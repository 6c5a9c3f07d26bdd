// Hang detection: one interval timer per pool pings every ready C++ worker that said it answers
// heartbeats (the act and its handshake are described in pool_wire.hpp); a worker silent for
// heartbeat_timeout is sent SIGTERM, SIGKILLed kill_grace later, and goes the way of any crash
// (counted toward a crash loop, respawned with its slot's backoff).
#include "pool/pool_core.hpp"

#include "internal_message.hpp"
#include "pool/pool_wire.hpp"
#include "primary.hpp"

#include <algorithm>
#include <csignal>
#include <unordered_map>

namespace cluster::detail {
namespace {

// The pools' members that may answer, by worker: the primary's act handler is process-wide.
std::unordered_map<const Worker*, std::weak_ptr<Member>>& watched() {
  static auto* m = new std::unordered_map<const Worker*, std::weak_ptr<Member>>();
  return *m;
}

// A worker's announcement or answer. From a worker no pool watches (heartbeats off, or one that
// inherited the variable), it is ignored, as Node ignores an act it does not know.
void on_heartbeat_act(Worker& w, Message&, Handle&) {
  auto& all = watched();
  auto it = all.find(&w);
  if (it == all.end()) return;
  auto m = it->second.lock();
  if (!m) {
    all.erase(it);
    return;
  }
  m->heartbeat = true;
  m->last_heartbeat = Clock::now();
}

}  // namespace

void PoolCore::start_health() {
  // Registered by every pool, so that a stray announcement is never an unknown act.
  primary::set_act_handler(pool_wire::heartbeat_act, on_heartbeat_act);
  std::weak_ptr<PoolCore> wc = weak_from_this();
  if (heartbeats_on()) {
    last_heartbeat_tick = Clock::now();
    heartbeat_timer = set_interval([wc] {
      if (auto c = wc.lock()) c->heartbeat_tick();
    }, opt.heartbeat_interval);
    heartbeat_timer.unref();  // the workers keep the loop alive, not their supervision
  }
  if (opt.max_rss_bytes > 0 || opt.max_connections > 0) {
    health_timer = set_interval([wc] {
      if (auto c = wc.lock()) c->health_tick();
    }, std::max(opt.health_interval, std::chrono::milliseconds(1)));
    health_timer.unref();
  }
}

void PoolCore::stop_health() {
  heartbeat_timer.cancel();
  health_timer.cancel();
}

void PoolCore::watch_heartbeat(const std::shared_ptr<Member>& m) { watched()[m->worker.get()] = m; }

void PoolCore::unwatch_heartbeat(const Member& m) {
  auto& all = watched();
  if (auto it = all.find(m.worker.get()); it != all.end() && it->second.lock().get() == &m) all.erase(it);
}

void PoolCore::heartbeat_tick() {
  const auto now = Clock::now();
  const auto timeout = std::max(opt.heartbeat_timeout, 2 * opt.heartbeat_interval);
  // After a stall of our own loop, answers may be waiting unread in the channels (timers run
  // before I/O): this round only pings, the next one judges.
  const bool judge = now - last_heartbeat_tick <= opt.heartbeat_interval + timeout / 2;
  last_heartbeat_tick = now;
  if (stopping) return;
  auto all = members;  // a hang_killed listener may scale or stop
  for (const auto& m : all) {
    if (m->gone || !m->heartbeat || m->hung || m->retire_asked || m->state != PoolWorkerState::ready) continue;
    if (!m->worker->is_connected()) continue;  // nothing can reach it; its exit will come
    // Counted from readiness at the earliest: a slow start is ready_timeout's business.
    if (judge && now - std::max(m->last_heartbeat, m->ready_at) > timeout) {
      kill_hung(m);
      if (stopping) return;
      continue;
    }
    internal::send(*m->worker, {{"act", pool_wire::heartbeat_act}});
  }
}

void PoolCore::kill_hung(const std::shared_ptr<Member>& m) {
  m->hung = true;
  if (m->slot < static_cast<int>(slots.size())) ++slots[static_cast<std::size_t>(m->slot)].hangs;
  m->worker->kill(SIGTERM);
  std::weak_ptr<Member> wm = m;
  // A blocked loop cannot run a SIGTERM handler installed on it (cluster::on_signal): SIGKILL.
  m->kill_timer = set_timeout([wm] {
    auto mm = wm.lock();
    if (!mm || mm->gone || mm->worker->is_dead()) return;
    mm->worker->kill(SIGKILL);
  }, opt.kill_grace);
  owner.emit(ev::hang_killed, *m->worker);
}

}  // namespace cluster::detail
