#include "uv/handle.hpp"
#include "uv/tick.hpp"

#include <deque>

namespace cluster::uv {
namespace {

struct TickQueue {
  std::deque<std::function<void()>> queue;
  Handle<uv_idle_t> idle;
  bool started = false;
};

TickQueue& ticks() {
  static TickQueue* q = new TickQueue();  // never destroyed: its idle handle belongs to the loop
  return *q;
}

void on_idle(uv_idle_t* h) {
  drain_ticks();
  uv_idle_stop(h);
  ticks().started = false;
}

}  // namespace

uv_loop_t* loop() noexcept { return uv_default_loop(); }

void next_tick(std::function<void()> fn) {
  auto& q = ticks();
  q.queue.push_back(std::move(fn));
  if (!q.idle.valid()) {
    uv_idle_init(loop(), q.idle.get());
    q.idle.initialized();
    // A stopped idle handle never keeps the loop alive; unref'ing it too lets uv_walk-based
    // leak checks in tests ignore it.
    uv_unref(q.idle.base());
  }
  if (!q.started) {
    q.started = true;
    uv_ref(q.idle.base());
    uv_idle_start(q.idle.get(), on_idle);
  }
}

void drain_ticks() {
  auto& q = ticks();
  // Ticks queued by ticks run in the same drain, as Node's tick queue does.
  while (!q.queue.empty()) {
    auto fn = std::move(q.queue.front());
    q.queue.pop_front();
    fn();
  }
  if (q.idle.valid()) uv_unref(q.idle.base());
}

namespace {
int callback_depth = 0;
}  // namespace

CallbackScope::CallbackScope() noexcept { ++callback_depth; }

CallbackScope::~CallbackScope() {
  if (--callback_depth == 0 && !ticks().queue.empty()) {
    ++callback_depth;  // ticks that make further callbacks drain in this same loop
    drain_ticks();
    --callback_depth;
  }
}

}  // namespace cluster::uv
