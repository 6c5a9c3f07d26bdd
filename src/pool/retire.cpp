// Graceful retirement: the worker is told it is retiring (a plain message, surfaced as
// ev::retiring in a C++ worker so it can close idle keep-alive connections), then disconnected
// (Node's primary stops handing it connections at once), and SIGKILLed if still alive at the
// deadline. stop() retires every worker and reports who had to be killed.
#include "pool/pool_core.hpp"

#include "pool/pool_wire.hpp"
#include "uv/tick.hpp"

#include <csignal>

namespace cluster::detail {

void PoolCore::retire(const std::shared_ptr<Member>& m, std::chrono::milliseconds deadline) {
  if (m->gone) return;
  if (m->retire_asked) {
    // A later, shorter deadline (stop() during a reload's retirement) wins.
    if (m->deadline_timer.active()) m->deadline_timer.cancel();
  } else {
    m->retire_asked = true;
    m->state = PoolWorkerState::retiring;
    m->ready_timer.cancel();
    owner.emit(ev::retiring, *m->worker);
    if (m->gone) return;
    Worker& w = *m->worker;
    if (w.is_connected()) {
      w.send({{"cmd", pool_wire::retiring_cmd}});
      w.disconnect();
    }
    if (opt.retire_signal != 0 && !w.is_dead() && w.process().pid() > 0) w.kill(opt.retire_signal);
  }
  std::weak_ptr<Member> wm = m;
  m->deadline_timer = set_timeout([wm] {
    auto mm = wm.lock();
    if (!mm || mm->gone || mm->worker->is_dead()) return;
    mm->killed_at_deadline = true;
    mm->worker->kill(SIGKILL);
  }, deadline);
}

void PoolCore::begin_stop(std::chrono::milliseconds deadline, std::function<void(const StopResult&)> cb) {
  if (cb) stop_cbs.push_back(std::move(cb));
  stopping = true;
  stop_health();  // no hang kill, no recycle while stopping
  reloading = false;
  reload_queued = false;
  for (auto& s : slots) s.respawn.cancel();
  auto all = members;
  for (auto& m : all) retire(m, deadline);
  // Never synchronously, even with no worker left.
  std::weak_ptr<PoolCore> wc = weak_from_this();
  uv::next_tick([wc] {
    if (auto c = wc.lock()) c->finish_stop_if_done();
  });
}

void PoolCore::finish_stop_if_done() {
  if (!stopping || !members.empty() || stop_cbs.empty()) return;
  auto cbs = std::move(stop_cbs);
  stop_cbs.clear();
  for (auto& cb : cbs) cb(stop_result);
}

}  // namespace cluster::detail
