// The two pool hooks a plain program needs, used when include/cluster/pool.hpp has them
// (Pool::mark_ready(Worker&), PoolOptions::retire_signal) and bridged on the public API until
// then: readiness as the {"cmd":"CPPCLUSTER_READY"} message the pool listens for, emitted on the
// worker's own emitter (a plain program has no channel to send it on), and retirement by a
// signal sent from an ev::retiring listener (its channel closed at exec, the pool's disconnect
// does nothing for it).
#pragma once

#include "cluster/pool.hpp"

namespace cppcluster::hooks {

template <class P>
concept has_mark_ready = requires(P& p, cluster::Worker& w) { p.mark_ready(w); };
template <class O>
concept has_retire_signal = requires(O& o) { o.retire_signal = 15; };

// Tells the pool a starting worker is ready; nothing for a worker already ready or gone.
template <class P = cluster::Pool>
void mark_ready(P& pool, cluster::Worker& w) {
  if constexpr (has_mark_ready<P>) {
    pool.mark_ready(w);
  } else {
    cluster::Handle none;
    w.emit(cluster::ev::message, cluster::Message{{"cmd", "CPPCLUSTER_READY"}}, none);
  }
}

// Makes the pool retire a worker by sending it sig. With the library's hook this sets
// PoolOptions::retire_signal and returns false; without it, returns true: the caller must send
// sig itself from its ev::retiring listener (send_retire_signal).
template <class O = cluster::PoolOptions>
bool set_retire_signal(O& options, int sig) {
  if constexpr (has_retire_signal<O>) {
    options.retire_signal = sig;
    return false;
  } else {
    (void)options;
    (void)sig;
    return true;
  }
}

}  // namespace cppcluster::hooks
