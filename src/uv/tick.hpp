// process.nextTick for the loop: callbacks that run after the current callback, in FIFO order.
#pragma once

#include <functional>

namespace cluster::uv {

// Queues fn to run on the loop soon, before the loop waits for I/O again.
void next_tick(std::function<void()> fn);
// Runs every queued callback now.
void drain_ticks();

// Runs fn; outside the loop (before cluster::run(), no library callback on the stack) it then runs
// at once the ticks fn queued (not older ones, nor those they queue in turn). A channel write
// flushes on a tick: this makes a send made before the loop runs leave at once, as libuv writes
// synchronously when it can, instead of waiting for the loop.
void run_ticks_now_if_outside_loop(const std::function<void()>& fn);
// Tells the tick queue whether cluster::run() is running the loop.
void set_loop_running(bool running);

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
