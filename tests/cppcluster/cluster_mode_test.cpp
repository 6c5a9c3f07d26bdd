// Process tests of `cppcluster run --mode cluster`: programs that are real cluster workers (a C++
// program linking the library, tests/cppcluster/cluster_worker.cpp, and a Node program using
// cluster, cluster_worker.js) listen through the supervisor, their primary: requests spread over
// their pids by round robin, and a reload under load replaces them without one failed request.
#include "http_get.hpp"
#include "run_helpers.hpp"
#include "support/child_lines.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;
using cppcluster_test::ready_pids;

int pid_in(const std::string& body) {
  std::smatch m;
  return std::regex_search(body, m, std::regex("pid=(\\d+) worker=\\d+")) ? std::stoi(m[1]) : 0;
}

// Runs program as 3 cluster workers: checks that each is ready once it listens, that requests
// reach all three, that SIGHUP under load (4 connections, a new one per request) replaces them
// with no failed request, and that SIGTERM ends it all with exit 0.
void serve_reload_stop(const std::vector<std::string>& program) {
  std::vector<std::string> args{"run", "--mode", "cluster", "--workers", "3", "--graceful-timeout", "20s", "--"};
  args.insert(args.end(), program.begin(), program.end());
  Child sup(CPPCLUSTER_BIN, {{"PORT", "0"}}, args);
  const auto listening = sup.wait_for("worker \\d+ \\(pid \\d+\\) listening on tcp://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_FALSE(listening.empty()) << sup.output();
  const int port = std::stoi(listening[1]);
  const auto old_pids = ready_pids(sup, 3);
  ASSERT_EQ(old_pids.size(), 3u) << sup.output();

  std::set<int> seen;
  for (int r = 0; r < 30 && seen.size() < 3; ++r) {  // round robin: a few rounds suffice
    std::vector<std::future<std::pair<int, std::string>>> f;
    for (int i = 0; i < 6; ++i) f.push_back(std::async(std::launch::async, [port] { return cppcluster_test::http_get(port, "/"); }));
    for (auto& x : f) {
      auto [code, body] = x.get();
      ASSERT_EQ(code, 200) << body << sup.output();
      seen.insert(pid_in(body));
    }
  }
  EXPECT_EQ(seen, old_pids) << sup.output();

  const auto new_pids = cppcluster_test::reload_under_load(sup, port, old_pids, "worker=");
  ASSERT_EQ(new_pids.size(), 3u) << sup.output();
  for (int i = 0; i < 12; ++i) {
    const int p = pid_in(cppcluster_test::http_get(port, "/").second);
    EXPECT_EQ(new_pids.count(p), 1u) << "answered by " << p;
  }
  ::kill(sup.pid(), SIGTERM);
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
}

// Verifies --mode cluster with a C++ program linking the library.
TEST(CppclusterClusterMode, CppWorkersServeRoundRobinAndReload) { serve_reload_stop({CLUSTER_WORKER}); }

// Verifies --mode cluster with a Node program using require('cluster') and http.
TEST(CppclusterClusterMode, NodeWorkersServeRoundRobinAndReload) { serve_reload_stop({NODE, NODE_WORKER}); }

// Verifies that --listen and --ready notify are usage errors with --mode cluster (exit 2).
TEST(CppclusterClusterMode, ListenAndReadyRefusedWithExitTwo) {
  for (const auto& extra : std::vector<std::vector<std::string>>{{"--listen", "tcp://127.0.0.1:0"}, {"--ready", "notify"}}) {
    std::vector<std::string> args{"run", "--mode", "cluster"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--", CLUSTER_WORKER});
    Child c(CPPCLUSTER_BIN, {}, args);
    const auto said = c.wait_for("--mode cluster: ", 1, 30s);
    const int status = c.wait_exit(30s);
    EXPECT_FALSE(said.empty()) << c.output();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << c.output();
  }
}

}  // namespace
