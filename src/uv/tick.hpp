// process.nextTick for the loop: callbacks that run after the current callback, in FIFO order.
#pragma once

#include <functional>

namespace cluster::uv {

// Queues fn to run on the loop soon, before the loop waits for I/O again.
void next_tick(std::function<void()> fn);
// Runs every queued callback now.
void drain_ticks();

// Marks a callback from libuv into the library: when the outermost scope ends, the tick queue is
// drained, as Node processes nextTicks after every callback into JS (MakeCallback). So a tick
// queued while handling one I/O event runs before the next I/O event of the same poll pass.
class CallbackScope {
 public:
  CallbackScope() noexcept;
  ~CallbackScope();
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

}  // namespace cluster::uv
