// Node's timers on a uv_timer_t each. An armed timer holds itself (self), so a Timer handle the
// user drops does not cancel it, as in Node; firing (one-shot) or cancel() lets it go.
#include "cluster/timer.hpp"

#include "uv/handle.hpp"
#include "uv/tick.hpp"

#include <stdexcept>

namespace cluster {
namespace detail {

struct TimerState : std::enable_shared_from_this<TimerState> {
  uv::Handle<uv_timer_t> handle;
  std::function<void()> fn;
  std::uint64_t delay_ms = 1;
  bool repeat = false;
  bool refed = true;
  std::shared_ptr<TimerState> self;  // set while armed

  void arm() {
    if (!handle.valid()) {
      uv_timer_init(uv::loop(), handle.get());
      handle.initialized();
      handle.get()->data = this;
      if (!refed) uv_unref(handle.base());
    }
    uv_timer_start(handle.get(), on_timer, delay_ms, repeat ? delay_ms : 0);
    self = shared_from_this();
  }

  static void on_timer(uv_timer_t* h) {
    auto* raw = static_cast<TimerState*>(h->data);
    if (!raw || !raw->self) return;
    uv::CallbackScope scope;
    // Held here: the callback may cancel the timer or drop the last handle on it.
    std::shared_ptr<TimerState> keep = raw->self;
    if (!keep->repeat) keep->self.reset();
    auto fn = keep->fn;  // a copy: the callback may replace or clear what it runs from
    fn();
  }
};

}  // namespace detail

namespace {

std::uint64_t clamp_delay(std::chrono::milliseconds d) {
  // Node (timers.js): a delay below 1 or above 2^31-1 ms becomes 1 ms.
  return d.count() < 1 || d.count() > 2147483647 ? 1 : static_cast<std::uint64_t>(d.count());
}

std::shared_ptr<detail::TimerState> start(std::function<void()> fn, std::chrono::milliseconds d, bool repeat) {
  if (!fn) throw std::logic_error("cluster timer: empty callback");
  auto s = std::make_shared<detail::TimerState>();
  s->fn = std::move(fn);
  s->delay_ms = clamp_delay(d);
  s->repeat = repeat;
  s->arm();
  return s;
}

}  // namespace

Timer set_timeout(std::function<void()> fn, std::chrono::milliseconds delay) {
  return Timer(start(std::move(fn), delay, false));
}

Timer set_interval(std::function<void()> fn, std::chrono::milliseconds interval) {
  return Timer(start(std::move(fn), interval, true));
}

void Timer::cancel() noexcept {
  if (!state_ || !state_->self) return;
  if (state_->handle.valid()) uv_timer_stop(state_->handle.get());
  state_->self.reset();
}

Timer& Timer::ref() noexcept {
  if (state_) {
    state_->refed = true;
    if (state_->handle.valid()) uv_ref(state_->handle.base());
  }
  return *this;
}

Timer& Timer::unref() noexcept {
  if (state_) {
    state_->refed = false;
    if (state_->handle.valid()) uv_unref(state_->handle.base());
  }
  return *this;
}

bool Timer::has_ref() const noexcept { return state_ && state_->refed; }

Timer& Timer::refresh() {
  if (state_) state_->arm();
  return *this;
}

bool Timer::active() const noexcept { return state_ && state_->self != nullptr; }

}  // namespace cluster
