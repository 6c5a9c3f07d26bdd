// Recycling: a ready worker above its memory limit gets a newcomer forked into its slot and
// retires once that one is ready, the path a reload takes, so capacity never drops. Each worker's
// limit is lowered by its own random jitter so that workers started together do not all recycle
// at the same moment.
#include "pool/pool_core.hpp"

#include "pool/proc_stats.hpp"

#include <algorithm>
#include <cmath>

namespace cluster::detail {

std::uint64_t PoolCore::rss_limit_of_new_member() {
  if (opt.max_rss_bytes == 0) return 0;
  const double jitter = std::isfinite(opt.recycle_jitter) ? std::clamp(opt.recycle_jitter, 0.0, 0.9) : 0.0;
  if (jitter <= 0.0) return opt.max_rss_bytes;
  std::uniform_real_distribution<double> fraction(0.0, jitter);
  const auto cut = static_cast<std::uint64_t>(static_cast<double>(opt.max_rss_bytes) * fraction(rng));
  return opt.max_rss_bytes - std::min(cut, opt.max_rss_bytes - 1);
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
    // A connection-count limit (max_connections, from the per-worker connection counters) is
    // checked here the same way: over its jittered limit, recycle(m, RecycleReason::connections).
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
