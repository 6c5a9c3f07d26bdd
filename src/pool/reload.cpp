// Rolling reload: for each slot whose worker is older than the reload, fork a newcomer
// (reload_batch at a time); once it is ready it becomes the slot's worker and the old one
// retires. Capacity never drops below the target: the old worker leaves only after its
// replacement is ready. A newcomer that fails stops the reload (the old workers keep serving).
// A recycle's newcomer (recycle.cpp) takes the same path; a slot never has two newcomers at once,
// so a reload and a recycle never both replace one worker (a recycle's newcomer forked before the
// reload began is itself replaced by the reload afterwards).
#include "pool/pool_core.hpp"

namespace cluster::detail {

void PoolCore::start_reload() {
  if (reloading) {
    reload_queued = true;  // coalesced: one more full reload after this one
    return;
  }
  reloading = true;
  ++generation;
  reload_step();
}

void PoolCore::reload_step() {
  if (!reloading || stopping) return;
  unsigned in_flight = 0;
  for (const auto& m : members) in_flight += m->incoming && !m->retire_asked ? 1 : 0;
  bool pending = in_flight > 0;
  const unsigned batch = opt.reload_batch ? opt.reload_batch : 1;
  for (int i = 0; i < static_cast<int>(slots.size()); ++i) {
    auto cur = current_of(i);
    if (!cur || cur->generation >= generation || incoming_of(i)) continue;
    pending = true;
    if (in_flight >= batch) break;
    fork_member(i, true);
    ++in_flight;
  }
  if (pending) return;
  reloading = false;
  owner.emit(ev::reload, std::error_code{});
  if (reload_queued && !stopping) {
    reload_queued = false;
    start_reload();
  }
}

void PoolCore::promote(const std::shared_ptr<Member>& incoming) {
  auto old = current_of(incoming->slot);
  incoming->incoming = false;
  if (old && old != incoming) {
    retire(old, opt.retire_deadline);
    if (old->recycling) {
      if (old->slot < static_cast<int>(slots.size())) ++slots[static_cast<std::size_t>(old->slot)].recycles;
      owner.emit(ev::recycled, *old->worker, *old->recycling);
    }
  }
  reload_step();
}

void PoolCore::incoming_failed(const std::shared_ptr<Member>& m) {
  if (m->for_recycle) {
    // The old worker keeps serving; a later health check may try again (each failure counts
    // toward a crash loop, which ends the attempts).
    if (auto cur = current_of(m->slot)) cur->recycling.reset();
  } else if (reloading) {
    reloading = false;
    reload_queued = false;
    owner.emit(ev::reload, make_error_code(errc::reload_failed));
  }
  // The slot's own worker died while its newcomer was starting: it needs a respawn after all.
  if (!current_of(m->slot) && !incoming_of(m->slot)) schedule_respawn(m->slot, Clock::now() - m->started);
  if (m->for_recycle) reload_step();  // a reload waiting for this slot's newcomer goes on
}

}  // namespace cluster::detail
