// Listen errors reach the worker's error listener with the errno name Node reports, the primary
// stays up, and a retry after the cause is gone works (test-cluster-eaddrinuse.js,
// -shared-handle-bind-error.js, -bind-privileged-port.js, -shared-handle-bind-privileged-port.js).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <grp.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

// Listens as LISTEN_PORT / LISTEN_PATH say; reports {error: name} or {port}; "retry" listens again.
WORKER_ROLE(net_listen_reporter) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end("ok\n"); });
  static auto attempt = [] {
    net::ListenOptions o;
    if (const char* path = std::getenv("LISTEN_PATH")) {
      o.path = path;
    } else {
      o.port = std::atoi(std::getenv("LISTEN_PORT"));
      o.host = "127.0.0.1";
    }
    server->listen(o, [] { worker().send({{"port", server->address()->port}}); });
  };
  server->on(ev::error, [](const std::system_error& e) {
    worker().send({{"error", err_name(e.code())}, {"what", e.what()}, {"listening", server->listening()}});
  });
  worker().on(ev::message, [](const Message& m) {
    if (m == "retry") attempt();
  });
  attempt();
}

namespace {

class NetErrors : public testing::TestWithParam<int> {};

std::string policy_name(const testing::TestParamInfo<int>& info) { return info.param == sched_rr ? "rr" : "none"; }

// Verifies EADDRINUSE for a port the primary itself holds: the worker's error listener gets
// "EADDRINUSE", the primary stays up, and after the primary frees the port a retry in the same
// worker listens on it (the primary forgot the failed key).
TEST_P(NetErrors, AddressInUseThenRetry) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  auto holder = net::create_server();
  std::string error;
  int got_port = 0;
  holder->listen(0, "127.0.0.1", [&] {
    const int port = holder->address()->port;
    auto w = fork_role("net_listen_reporter", {{"LISTEN_PORT", std::to_string(port)}});
    w->on(ev::message, [&, w, port](const Message& m) {
      if (m.contains("error")) {
        error = m["error"];
        EXPECT_EQ(m["listening"], false);
        holder->close([w](std::error_code) { w->send("retry"); });
      } else if (m.contains("port")) {
        got_port = m["port"].get<int>();
        EXPECT_EQ(got_port, port);
        w->disconnect();
      }
    });
  });
  run_loop();
  EXPECT_EQ(error, "EADDRINUSE");
  EXPECT_GT(got_port, 0);
}

// Verifies a privileged port gives EACCES in the worker (the test drops root first, as Node's
// test runs unprivileged).
TEST_P(NetErrors, PrivilegedPortIsEacces) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  if (geteuid() == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) GTEST_SKIP() << "cannot drop root";
  }
  if (access(self_exe().c_str(), X_OK) != 0) GTEST_SKIP() << "the test binary is not executable unprivileged";
  std::string error;
  auto w = fork_role("net_listen_reporter", {{"LISTEN_PORT", "42"}});
  w->on(ev::message, [&, w](const Message& m) {
    error = m.value("error", "listened");
    w->disconnect();
  });
  run_loop();
  EXPECT_EQ(error, "EACCES");
}

// Verifies a Unix socket path in a directory that does not exist gives ENOENT.
TEST_P(NetErrors, BadUnixPathIsEnoent) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  net_test::TempDir dir;
  std::string error;
  auto w = fork_role("net_listen_reporter", {{"LISTEN_PATH", dir.path() + "/missing/sock"}});
  w->on(ev::message, [&, w](const Message& m) {
    error = m.value("error", "listened");
    w->disconnect();
  });
  run_loop();
  EXPECT_EQ(error, "ENOENT");
}

INSTANTIATE_TEST_SUITE_P(Net, NetErrors, testing::Values(sched_rr, sched_none), policy_name);

}  // namespace
