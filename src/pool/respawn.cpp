// Respawn with a per-slot exponential backoff, and the crash-loop stop: K unexpected exits (or
// failed starts) within a window end all respawning, so nothing forks forever, while the workers
// still up keep serving.
#include "pool/pool_core.hpp"

#include <algorithm>

namespace cluster::detail {

void PoolCore::schedule_respawn(int slot, Clock::duration uptime) {
  if (crash_looped || stopping || slot >= static_cast<int>(slots.size())) return;
  Slot& s = slots[static_cast<std::size_t>(slot)];
  if (s.backoff.count() == 0 || uptime >= opt.stable_after) s.backoff = opt.backoff_initial;
  const auto delay = s.backoff;
  s.backoff = std::min(s.backoff * 2, std::max(opt.backoff_max, opt.backoff_initial));
  ++s.restarts;
  std::weak_ptr<PoolCore> wc = weak_from_this();
  // Ref'd: with every worker gone, the pending respawn is what keeps the primary running.
  s.respawn = set_timeout([wc, slot] {
    if (auto c = wc.lock()) c->respawn_now(slot);
  }, delay);
  owner.emit(ev::respawn_scheduled, slot, delay);
}

void PoolCore::respawn_now(int slot) {
  if (crash_looped || stopping || slot >= static_cast<int>(slots.size())) return;
  // A reload's newcomer already on its way takes the slot over when ready.
  if (current_of(slot) || incoming_of(slot)) return;
  fork_member(slot, false);
}

void PoolCore::count_unexpected_exit() {
  const auto now = Clock::now();
  unexpected.push_back(now);
  while (!unexpected.empty() && now - unexpected.front() > opt.crash_loop_window) unexpected.pop_front();
  if (crash_looped || unexpected.size() < std::max(1u, opt.crash_loop_exits)) return;
  crash_looped = true;
  for (auto& s : slots) s.respawn.cancel();
  servers_hold.reset();  // no replacement is coming: a server closes with its last survivor
  owner.emit(ev::crash_loop,
             std::system_error(make_error_code(errc::crash_loop),
                               std::to_string(unexpected.size()) + " unexpected exits within " +
                                   std::to_string(opt.crash_loop_window.count()) + " ms"));
}

}  // namespace cluster::detail
