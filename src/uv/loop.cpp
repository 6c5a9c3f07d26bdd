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

namespace {
bool loop_running = false;
}  // namespace

void set_loop_running(bool running) { loop_running = running; }

void run_ticks_now_if_outside_loop(const std::function<void()>& fn) {
  auto& q = ticks();
  if (loop_running || callback_depth > 0) return fn();
  const std::size_t before = q.queue.size();
  fn();
  if (q.queue.size() <= before) return;
  std::deque<std::function<void()>> mine(std::make_move_iterator(q.queue.begin() + static_cast<std::ptrdiff_t>(before)),
                                         std::make_move_iterator(q.queue.end()));
  q.queue.erase(q.queue.begin() + static_cast<std::ptrdiff_t>(before), q.queue.end());
  ++callback_depth;  // what these ticks queue (write callbacks) waits for the loop, as in Node
  for (auto& t : mine) t();
  --callback_depth;
}

}  // namespace cluster::uv
