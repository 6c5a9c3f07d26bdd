// Process tests of the per-worker watchdog (`cppcluster run --ready notify --watchdog D`): real
// supervisors running tests/cppcluster/watchdog_worker.py, whose behaviour (keep pinging, hang
// after N pings, WATCHDOG=trigger) each worker reads from a mode file by its worker id.
#include "cli_support.hpp"
#include "http_get.hpp"
#include "support/child_lines.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;

// The file the workers read their modes from ("ID MODE" lines, "* MODE"), in a temp dir.
struct ModeFile {
  void set(const std::string& mode) const { std::ofstream(path) << mode << "\n"; }
  cppcluster_test::TempDir tmp{"cppcluster-wd"};
  const std::string& dir = tmp.path;
  std::string path = tmp.path + "/mode";
};

Child supervisor(const ModeFile& mode, const std::string& watchdog, const std::string& graceful) {
  return Child(CPPCLUSTER_BIN, {{"MODE_FILE", mode.path}},
               {"run", "--workers", "1", "--ready", "notify", "--watchdog", watchdog, "--graceful-timeout", graceful,
                "--admin", "127.0.0.1:0", "--", PYTHON3, WATCHDOG_WORKER});
}

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string(".()[]*+?^$|{}\\").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

// Verifies the watchdog of a worker that stops sending WATCHDOG=1: it got WATCHDOG_USEC (the
// interval) and WATCHDOG_PID (its own pid); once silent for the interval it is named in the log,
// sent SIGTERM, which it ignores, then SIGKILLed after the grace (--graceful-timeout 1s), and the
// pool starts a replacement, which keeps pinging and is not replaced; /metrics counts one kill.
TEST(CppclusterWatchdog, WorkerThatStopsPingingIsKilledAndReplaced) {
  ModeFile mode;
  ASSERT_FALSE(mode.dir.empty());
  mode.set("1 hang:3\n* ping");
  Child sup = supervisor(mode, "3s", "1s");
  auto env = sup.wait_for("\\] watchdog usec=(\\d+) wpid=(\\d+) pid=(\\d+)");
  ASSERT_FALSE(env.empty()) << sup.output();
  EXPECT_EQ(env[1], "3000000");
  EXPECT_EQ(env[2], env[3]) << "WATCHDOG_PID is not the worker's own pid";
  const std::string pid = env[3];
  ASSERT_FALSE(sup.wait_for("worker 1 \\(pid " + pid + "\\) ready").empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] hanging pid=" + pid).empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("worker 1 \\(pid " + pid + "\\) sent no WATCHDOG=1 for \\d+ ms \\(--watchdog 3000 ms\\): "
                            "hung, sending SIGTERM \\(SIGKILL in 1000 ms\\)").empty())
      << sup.output();
  ASSERT_FALSE(sup.wait_for("worker 1 \\(pid " + pid + "\\) killed by SIGKILL").empty()) << sup.output();
  auto next = sup.wait_for("worker 2 \\(pid (\\d+)\\) ready");
  ASSERT_FALSE(next.empty()) << sup.output();
  auto admin = sup.wait_for("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_FALSE(admin.empty()) << sup.output();
  const auto [code, metrics] = cppcluster_test::http_get(std::stoi(admin[1]), "/metrics");
  EXPECT_EQ(code, 200);
  EXPECT_NE(metrics.find("\ncppcluster_watchdog_kills_total 1\n"), std::string::npos) << metrics;
  // Ten pings at 0.2 s: the replacement has been watched for more than half its interval.
  ASSERT_FALSE(sup.wait_for("\\] pings=10 pid=" + next[1]).empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] watchdog usec=3000000 wpid=" + next[1]).empty()) << sup.output();
  ASSERT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();
  EXPECT_FALSE(sup.wait_for("\\] stopped pid=" + next[1], 1, 10s).empty()) << sup.output();
  const std::string out = sup.output();
  EXPECT_EQ(out.find("(pid " + next[1] + ") sent no WATCHDOG"), std::string::npos) << out;
  EXPECT_NE(out.find("(pid " + pid + ") sent no WATCHDOG"), std::string::npos) << out;
}

// Verifies WATCHDOG=trigger: the worker asking for it is replaced at once, however long the
// interval (60 s here), and its replacement serves on.
TEST(CppclusterWatchdog, TriggerReplacesTheWorkerAtOnce) {
  ModeFile mode;
  ASSERT_FALSE(mode.dir.empty());
  mode.set("1 trigger\n* ping");
  Child sup = supervisor(mode, "60s", "10s");
  auto first = sup.wait_for("\\] triggered pid=(\\d+)");
  ASSERT_FALSE(first.empty()) << sup.output();
  const std::string pid = first[1];
  ASSERT_FALSE(sup.wait_for(escaped("worker 1 (pid " + pid + ") asked for its watchdog (WATCHDOG=trigger): hung, "
                                    "sending SIGTERM (SIGKILL in 5000 ms)")).empty())
      << sup.output();
  // It handles SIGTERM: it stops by itself, and is replaced.
  ASSERT_FALSE(sup.wait_for("worker 1 \\(pid " + pid + "\\) exited with code 0").empty()) << sup.output();
  auto next = sup.wait_for("worker 2 \\(pid (\\d+)\\) ready");
  ASSERT_FALSE(next.empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] pings=10 pid=" + next[1]).empty()) << sup.output();
  EXPECT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();
}

}  // namespace
