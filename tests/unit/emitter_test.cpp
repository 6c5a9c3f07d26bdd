#include "cluster/emitter.hpp"
#include "cluster/events.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using TestEmitter = cluster::Emitter<cluster::Event<cluster::ev::message_t, int, const std::string&>,
                                     cluster::Event<cluster::ev::exit_t>>;

// Verifies that listeners run in registration order and may take a prefix of the arguments.
TEST(Emitter, CallsInRegistrationOrderWithArgumentPrefixes) {
  TestEmitter e;
  std::vector<std::string> log;
  e.on(cluster::ev::message, [&](int n, const std::string& s) { log.push_back("a" + std::to_string(n) + s); });
  e.on(cluster::ev::message, [&](int n) { log.push_back("b" + std::to_string(n)); });
  e.on(cluster::ev::message, [&] { log.push_back("c"); });
  e.emit(cluster::ev::message, 1, std::string("x"));
  EXPECT_EQ(log, (std::vector<std::string>{"a1x", "b1", "c"}));
}

// Verifies Node's snapshot semantics: a listener removed during an emit still runs in it, and one
// added during it waits for the next emit (events.js arrayClone).
TEST(Emitter, SnapshotSemanticsDuringEmit) {
  TestEmitter e;
  std::vector<std::string> log;
  cluster::listener_id second = 0;
  e.on(cluster::ev::exit, [&] {
    log.push_back("first");
    e.off(second);
    e.on(cluster::ev::exit, [&] { log.push_back("added"); });
  });
  second = e.on(cluster::ev::exit, [&] { log.push_back("second"); });
  e.emit(cluster::ev::exit);
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second"}));
  log.clear();
  e.emit(cluster::ev::exit);
  EXPECT_EQ(log, (std::vector<std::string>{"first", "added"}));
}

// Verifies that once-listeners run a single time even when the emit recurses.
TEST(Emitter, OnceRunsOnceEvenWhenReentered) {
  TestEmitter e;
  int calls = 0;
  e.once(cluster::ev::exit, [&] {
    ++calls;
    e.emit(cluster::ev::exit);
  });
  e.emit(cluster::ev::exit);
  e.emit(cluster::ev::exit);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(e.listener_count(cluster::ev::exit), 0u);
}

// Verifies that off() finds a listener on any event and scoped_listener removes on scope exit.
TEST(Emitter, OffAndScopedListener) {
  TestEmitter e;
  int calls = 0;
  {
    cluster::scoped_listener<TestEmitter> l(e, e.on(cluster::ev::exit, [&] { ++calls; }));
    e.emit(cluster::ev::exit);
  }
  e.emit(cluster::ev::exit);
  EXPECT_EQ(calls, 1);
  auto id = e.on(cluster::ev::message, [&](int) { ++calls; });
  EXPECT_TRUE(e.off(id));
  EXPECT_FALSE(e.off(id));
}

}  // namespace
