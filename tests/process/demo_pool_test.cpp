// The demo server (examples/hello_server, what `make run` starts) as its users drive it, under
// continuous HTTP load on loopback, keep-alive and connection-per-request at once, with every
// request's outcome counted: two SIGHUP rolling reloads, a SIGTTOU scale-down and a SIGTTIN
// scale-up, then SIGTERM. Not one request may fail, and the demo must exit 0.
#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
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

TEST(DemoPool, ReloadsAndScalingUnderHttpLoadLoseNoRequest) {
  child_lines::Child demo(HELLO_SERVER, {{"PORT", "0"}, {"WORKERS", "4"}, {"STOP_DEADLINE_MS", "20000"}});
  ASSERT_GT(demo.pid(), 0);
  auto listening = demo.wait_for("^Listening on port ([0-9]+)$");
  ASSERT_FALSE(listening.empty()) << demo.output();
  const int port = std::stoi(listening[1]);
  ASSERT_FALSE(demo.wait_for("^Worker [0-9]+ started$", 4).empty()) << demo.output();

  storm::Client kept(port, "GET / HTTP/1.1\r\nHost: demo\r\n\r\n", "hello world", 8, 10s, storm::Mode::keep_alive);
  storm::Client fresh(port, "GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n", "hello world", 8);
  kept.start();
  fresh.start();
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

}  // namespace

#endif  // HELLO_SERVER
