// Signal listeners: Node's process.on('SIGUSR2') semantics (test-signal-handler.js,
// test-signal-unregister.js): listeners in order, removable, and not keeping the loop alive.
#include "loop_runner.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Verifies listeners run in registration order with the signal number, and a removed one stops.
TEST(Signal, ListenersRunInOrderAndCanBeRemoved) {
  std::vector<std::string> log;
  cluster::listener_id a = 0, b = 0;
  a = cluster::on_signal(SIGUSR2, [&](int sig) { log.push_back("a" + std::to_string(sig)); },
                         cluster::KeepAlive::yes);
  b = cluster::on_signal(SIGUSR2, [&](int sig) {
    log.push_back("b" + std::to_string(sig));
    if (log.size() == 2) {  // after the first delivery: a leaves, b stays for one more
      EXPECT_TRUE(cluster::off_signal(a));
      ::kill(getpid(), SIGUSR2);
    } else {
      EXPECT_TRUE(cluster::off_signal(b));  // the last: the loop may end
    }
  });
  ::kill(getpid(), SIGUSR2);
  EXPECT_TRUE(unit_loop::run(10s));
  const std::string s = std::to_string(SIGUSR2);
  EXPECT_EQ(log, (std::vector<std::string>{"a" + s, "b" + s, "b" + s}));
  EXPECT_FALSE(cluster::off_signal(a));
}

// Verifies a listener does not keep the loop alive by default (Node unrefs its signal handles).
TEST(Signal, DefaultListenerDoesNotKeepTheLoopAlive) {
  int calls = 0;
  const cluster::listener_id id = cluster::on_signal(SIGUSR1, [&](int) { ++calls; });
  std::chrono::milliseconds elapsed{};
  EXPECT_TRUE(unit_loop::run(10s, &elapsed));
  EXPECT_LT(elapsed, 5000ms);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(cluster::off_signal(id));
}

// Verifies KeepAlive::yes keeps the loop running until the signal comes and the listener leaves.
TEST(Signal, KeepAliveListenerHoldsTheLoopUntilRemoved) {
  int calls = 0;
  cluster::listener_id id = 0;
  id = cluster::on_signal(SIGUSR1, [&](int) {
    ++calls;
    cluster::off_signal(id);
  }, cluster::KeepAlive::yes);
  // Sent from a timer, after the loop started waiting: only the keep-alive listener holds it.
  cluster::set_timeout([] { ::kill(getpid(), SIGUSR1); }, 50ms);
  EXPECT_TRUE(unit_loop::run(10s));
  EXPECT_EQ(calls, 1);
}

// Verifies a signal that cannot be caught and an empty listener are refused.
TEST(Signal, UncatchableSignalThrows) {
  EXPECT_THROW(cluster::on_signal(SIGKILL, [](int) {}), std::invalid_argument);
  EXPECT_THROW(cluster::on_signal(SIGSTOP, [](int) {}), std::invalid_argument);
  EXPECT_THROW(cluster::on_signal(0, [](int) {}), std::invalid_argument);
  EXPECT_THROW(cluster::on_signal(SIGUSR1, {}), std::logic_error);
}

}  // namespace
