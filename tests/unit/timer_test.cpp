// Timers: Node's setTimeout / setInterval / clearTimeout / unref / refresh semantics
// (test-timers-*.js in Node's own suite).
#include "loop_runner.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

// Verifies a timeout runs once, not before its delay, and then lets the loop end.
TEST(Timer, TimeoutRunsOnceAfterItsDelay) {
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration at{};
  cluster::Timer t = cluster::set_timeout([&] {
    ++calls;
    at = std::chrono::steady_clock::now() - start;
  }, 50ms);
  EXPECT_TRUE(t.active());
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(calls, 1);
  // The delay counts from the loop's cached time (libuv's uv_now, as Node's getLibuvNow), which
  // may be up to a millisecond older than `start`.
  EXPECT_GE(at, 49ms);
  EXPECT_FALSE(t.active());
}

// Verifies a cancelled timeout never runs and no longer keeps the loop alive (clearTimeout).
TEST(Timer, CancelledTimeoutNeverRuns) {
  int calls = 0;
  cluster::Timer t = cluster::set_timeout([&] { ++calls; }, 5000ms);
  cluster::clear_timeout(t);
  std::chrono::milliseconds elapsed{};
  EXPECT_TRUE(unit_loop::run(10s, &elapsed));
  EXPECT_EQ(calls, 0);
  EXPECT_LT(elapsed, 4000ms);
  t.cancel();  // twice is harmless
}

// Verifies an interval repeats until its own callback cancels it (clearInterval inside).
TEST(Timer, IntervalRepeatsUntilCancelledFromItsCallback) {
  int calls = 0;
  cluster::Timer t;
  t = cluster::set_interval([&] {
    if (++calls == 3) t.cancel();
  }, 5ms);
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(t.active());
}

// Verifies an unref'd timer does not keep the loop alive, and ref() makes it do so again.
TEST(Timer, UnrefLetsTheLoopEndAndRefKeepsIt) {
  int long_calls = 0, short_calls = 0;
  cluster::Timer long_one = cluster::set_timeout([&] { ++long_calls; }, 5000ms);
  long_one.unref();
  EXPECT_FALSE(long_one.has_ref());
  std::chrono::milliseconds elapsed{};
  EXPECT_TRUE(unit_loop::run(10s, &elapsed));
  EXPECT_EQ(long_calls, 0);
  EXPECT_LT(elapsed, 4000ms);
  EXPECT_TRUE(long_one.active());

  // An unref'd timer still fires while something else keeps the loop running.
  cluster::Timer quick = cluster::set_timeout([&] { ++short_calls; }, 20ms).unref();
  cluster::Timer keeper = cluster::set_timeout([] {}, 100ms);
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(short_calls, 1);

  long_one.ref();
  EXPECT_TRUE(long_one.has_ref());
  long_one.cancel();
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(long_calls, 0);
}

// Verifies dropping every handle on an armed timer does not cancel it (Node's Timeout).
TEST(Timer, DroppedHandleStillFires) {
  int calls = 0;
  { (void)cluster::set_timeout([&] { ++calls; }, 5ms); }
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(calls, 1);
}

// Verifies refresh() re-arms a one-shot that already fired (timeout.refresh()).
TEST(Timer, RefreshRearmsAOneShot) {
  int calls = 0;
  cluster::Timer t = cluster::set_timeout([&] { ++calls; }, 5ms);
  EXPECT_TRUE(unit_loop::run(10s));
  t.refresh();
  EXPECT_TRUE(t.active());
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(calls, 2);
}

// Verifies an empty callback is misuse (Node throws ERR_INVALID_ARG_TYPE).
TEST(Timer, EmptyCallbackThrows) {
  EXPECT_THROW(cluster::set_timeout({}, 1ms), std::logic_error);
  EXPECT_THROW(cluster::set_interval({}, 1ms), std::logic_error);
}

}  // namespace
