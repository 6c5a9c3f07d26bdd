// The demo server (examples/hello_server, what `make run` starts) as its users drive it, under
// continuous HTTP load on loopback, keep-alive and connection-per-request at once, with every
// request's outcome counted: two SIGHUP rolling reloads, a SIGTTOU scale-down and a SIGTTIN
// scale-up, then SIGTERM; and recycling after a number of connections. Not one request may
// fail, and the demo must exit 0.
#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <memory>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#ifdef HELLO_SERVER

namespace {

using namespace std::chrono_literals;

// Waits until the client has answered `more` requests more than it had (at most 60 s).
void wait_answers(storm::Client& c, std::uint64_t more) {
  const std::uint64_t goal = c.counts()[storm::Outcome::ok] + more;
  for (int i = 0; i < 3000 && c.counts()[storm::Outcome::ok] < goal; ++i) std::this_thread::sleep_for(20ms);
}

// The demo's port once it listens and `workers` workers started; 0 (with a test failure) if not.
int port_of(child_lines::Child& demo, int workers) {
  auto listening = demo.wait_for("^Listening on port ([0-9]+)$");
  EXPECT_FALSE(listening.empty()) << demo.output();
  if (listening.empty()) return 0;
  EXPECT_FALSE(demo.wait_for("^Worker [0-9]+ started$", static_cast<std::size_t>(workers)).empty()) << demo.output();
  return std::stoi(listening[1]);
}

// HTTP load on port: keep-alive connections, or a new connection per request.
std::unique_ptr<storm::Client> load(int port, storm::Mode mode) {
  const std::string request = mode == storm::Mode::keep_alive
                                  ? "GET / HTTP/1.1\r\nHost: demo\r\n\r\n"
                                  : "GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n";
  auto c = std::make_unique<storm::Client>(port, request, "hello world", 8, 10s, mode);
  c->start();
  return c;
}

// Stops both loads, expects not one failed request, then SIGTERMs the demo and expects exit 0.
void finish(child_lines::Child& demo, storm::Client& kept, storm::Client& fresh) {
  kept.stop();
  fresh.stop();
  const storm::Counts k = kept.counts(), f = fresh.counts();
  std::printf("[ keep-alive ] %s\n[ per-request] %s\n", k.summary().c_str(), f.summary().c_str());
  EXPECT_EQ(k.failed(), 0u) << k.summary();
  EXPECT_EQ(f.failed(), 0u) << f.summary();
  ::kill(demo.pid(), SIGTERM);
  const int status = demo.wait_exit(60s);
  ASSERT_NE(status, -1) << "the demo did not exit after SIGTERM\n" << demo.output();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << demo.output();
}

TEST(DemoPool, ReloadsAndScalingUnderHttpLoadLoseNoRequest) {
  child_lines::Child demo(HELLO_SERVER, {{"PORT", "0"}, {"WORKERS", "4"}, {"STOP_DEADLINE_MS", "20000"}});
  ASSERT_GT(demo.pid(), 0);
  const int port = port_of(demo, 4);
  ASSERT_GT(port, 0);
  auto kept_load = load(port, storm::Mode::keep_alive), fresh_load = load(port, storm::Mode::per_request);
  storm::Client &kept = *kept_load, &fresh = *fresh_load;
  wait_answers(kept, 2000);
  wait_answers(fresh, 300);

  ::kill(demo.pid(), SIGHUP);
  EXPECT_FALSE(demo.wait_for("reload done, workers 5, 6, 7, 8$").empty()) << demo.output();
  wait_answers(kept, 2000);
  ::kill(demo.pid(), SIGHUP);
  EXPECT_FALSE(demo.wait_for("reload done, workers 9, 10, 11, 12$").empty()) << demo.output();
  EXPECT_FALSE(demo.wait_for("retired$", 8).empty()) << demo.output();
  wait_answers(kept, 2000);

  ::kill(demo.pid(), SIGTTOU);  // the newest (slot 4's worker 12) retires
  EXPECT_FALSE(demo.wait_for("\\(id 12\\) retired$").empty()) << demo.output();
  wait_answers(kept, 2000);
  wait_answers(fresh, 300);
  ::kill(demo.pid(), SIGTTIN);
  EXPECT_FALSE(demo.wait_for("^Worker [0-9]+ started$", 13).empty()) << demo.output();
  wait_answers(kept, 2000);
  wait_answers(fresh, 300);

  finish(demo, kept, fresh);
}

// Verifies the demo's recycling (RECYCLE_AFTER) under the same load: workers replaced after 400
// handed-off connections, each ready-then-retire, keep-alive connections drained, none failed.
TEST(DemoPool, RecyclingUnderHttpLoadLosesNoRequest) {
  child_lines::Child demo(HELLO_SERVER, {{"PORT", "0"}, {"WORKERS", "2"}, {"RECYCLE_AFTER", "400"}});
  ASSERT_GT(demo.pid(), 0);
  const int port = port_of(demo, 2);
  ASSERT_GT(port, 0);
  auto kept_load = load(port, storm::Mode::keep_alive), fresh_load = load(port, storm::Mode::per_request);
  storm::Client &kept = *kept_load, &fresh = *fresh_load;
  EXPECT_FALSE(demo.wait_for("recycled \\(connections\\)$", 4, 90s).empty()) << demo.output();
  EXPECT_FALSE(demo.wait_for("retired$", 4).empty()) << demo.output();
  wait_answers(kept, 2000);
  finish(demo, kept, fresh);
}

}  // namespace

#endif  // HELLO_SERVER
