// Recycling: a ready worker above its memory limit, or past its number of handed-off
// connections, gets a newcomer forked into its slot and retires once that one is ready, the path a reload takes, so capacity never drops. Each worker's
// limit is lowered by its own random jitter so that workers started together do not all recycle
// at the same moment.
#include "pool/pool_core.hpp"

#include "cluster/scheduler.hpp"
#include "pool/proc_stats.hpp"

#include <algorithm>
#include <cmath>

namespace cluster::detail {

std::uint64_t PoolCore::jittered(std::uint64_t limit) {
  if (limit == 0) return 0;
  const double jitter = std::isfinite(opt.recycle_jitter) ? std::clamp(opt.recycle_jitter, 0.0, 0.9) : 0.0;
  if (jitter <= 0.0) return limit;
  std::uniform_real_distribution<double> fraction(0.0, jitter);
  const auto cut = static_cast<std::uint64_t>(static_cast<double>(limit) * fraction(rng));
  return limit - std::min(cut, limit - 1);
}

void PoolCore::health_tick() {
  if (stopping || crash_looped) return;
  auto all = members;  // recycle() forks, and a listener may stop the pool
  for (const auto& m : all) {
    if (stopping) return;
    if (m->gone || m->incoming || m->retire_asked || m->hung || m->recycling || m->state != PoolWorkerState::ready) {
      continue;
    }
    const int pid = m->worker->process().pid();
    if (m->rss_limit > 0 && pid > 0 && read_rss_bytes(pid) > m->rss_limit) {
      recycle(m, RecycleReason::rss);
      continue;
    }
    if (m->connection_limit > 0 && connection_stats(*m->worker).handed_off >= m->connection_limit) {
      recycle(m, RecycleReason::connections);
    }
  }
}

bool PoolCore::recycle(const std::shared_ptr<Member>& m, RecycleReason reason) {
  if (!started || stopping || crash_looped) return false;
  if (m->gone || m->incoming || m->retire_asked || m->hung || m->recycling || m->state != PoolWorkerState::ready) {
    return false;
  }
  if (m->slot >= static_cast<int>(slots.size()) || current_of(m->slot) != m || incoming_of(m->slot)) return false;
  m->recycling = reason;
  fork_member(m->slot, true)->for_recycle = true;
  return true;
}

}  // namespace cluster::detail
