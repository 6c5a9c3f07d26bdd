/// @file
/// Timers on the process's loop: Node's setTimeout / setInterval / clearTimeout and the Timeout
/// object's ref() / unref() / hasRef() / refresh().
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace cluster {

namespace detail { struct TimerState; }

/// A scheduled callback (Node's Timeout). A copy refers to the same timer. As in Node, dropping
/// every copy does not cancel it: the library keeps an armed timer alive until it fires or is
/// cancelled. A default-constructed Timer refers to none; its calls do nothing.
class Timer {
 public:
  Timer() = default;

  /// Stops the timer (Node's clearTimeout / clearInterval); its callback will not run again.
  /// Safe inside the callback and on a timer that already fired.
  void cancel() noexcept;
  /// Makes an armed timer keep the loop alive (the default).
  Timer& ref() noexcept;
  /// Lets the loop end while the timer is armed (Node's timeout.unref()); it still fires if the
  /// loop runs that long for another reason.
  Timer& unref() noexcept;
  /// True unless unref() was called last (Node's timeout.hasRef()).
  bool has_ref() const noexcept;
  /// Restarts the countdown with the same delay, re-arming a one-shot that fired (Node's refresh()).
  Timer& refresh();
  /// True while the callback is still to run (a one-shot before it fires, an interval until cancelled).
  bool active() const noexcept;

 private:
  friend Timer set_timeout(std::function<void()> fn, std::chrono::milliseconds delay);
  friend Timer set_interval(std::function<void()> fn, std::chrono::milliseconds interval);
  explicit Timer(std::shared_ptr<detail::TimerState> s) noexcept : state_(std::move(s)) {}
  std::shared_ptr<detail::TimerState> state_;
};

/// Runs fn once on the loop after delay (Node's setTimeout; a delay under 1 ms is 1 ms, as in
/// Node). Throws std::logic_error if fn is empty.
Timer set_timeout(std::function<void()> fn, std::chrono::milliseconds delay);
/// Runs fn every interval until cancelled (Node's setInterval; under 1 ms is 1 ms). Throws
/// std::logic_error if fn is empty.
Timer set_interval(std::function<void()> fn, std::chrono::milliseconds interval);
/// Node's clearTimeout: the same as t.cancel().
inline void clear_timeout(Timer& t) noexcept { t.cancel(); }
/// Node's clearInterval: the same as t.cancel().
inline void clear_interval(Timer& t) noexcept { t.cancel(); }

}  // namespace cluster
