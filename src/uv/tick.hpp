// process.nextTick for the loop: callbacks that run after the current callback, in FIFO order.
#pragma once

#include <functional>

namespace cluster::uv {

// Queues fn to run on the loop soon, before the loop waits for I/O again.
void next_tick(std::function<void()> fn);
// Runs every queued callback now (used when the loop is about to stop).
void drain_ticks();

}  // namespace cluster::uv
