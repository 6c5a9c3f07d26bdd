// Server sharing against the real node binary, both directions, under both policies: a C++
// primary with unmodified Node.js workers running the seed's first example, and a Node.js
// primary with C++ workers serving HTTP on cluster::net::Server. Checked with real HTTP requests.
#include "process/net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

// A C++ worker for node_primary_server.js: HTTP "hello world" on listen(0), one request per
// connection (Connection: close).
WORKER_ROLE(http_hello_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    auto buffered = std::make_shared<std::string>();
    net::Socket* raw = s.get();
    raw->on(ev::data, [raw, buffered](std::string_view d) {
      buffered->append(d);
      if (buffered->find("\r\n\r\n") == std::string::npos) return;
      const std::string body = "hello world\n";
      raw->end("HTTP/1.1 200 OK\r\nX-Worker-Id: " + std::to_string(worker().id()) +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    });
  });
  server->listen(0);
}

namespace {

class NodeServer : public testing::TestWithParam<int> {};

std::string policy_name(const testing::TestParamInfo<int>& info) {
  return info.param == sched_rr ? "rr" : info.param == sched_none ? "none" : "reuseport";
}

// Verifies a C++ primary serves through unmodified Node.js workers (the seed's first example):
// both listen on one port, every HTTP request is answered "hello world", and under round-robin
// both workers serve. Under sched_reuseport the Node workers listen on the sockets the primary
// bound for them (Node's child.js takes any handle it is given).
TEST_P(NodeServer, CppPrimaryNodeHttpWorkers) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_http_worker.js",
                 .args = std::vector<std::string>{}});
  constexpr int requests = 10;
  std::vector<Address> listening;
  std::map<std::string, int> by_worker;
  std::vector<std::string> bad;
  std::map<int, int> exit_codes;
  std::unique_ptr<net_test::ClientThreads> clients;
  on(ev::listening, [&](Worker&, const Address& a) {
    listening.push_back(a);
    if (listening.size() != 2) return;
    const int port = a.port;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int i = 0; i < requests; ++i) {
      jobs.push_back([port] {
        return net_test::request({"tcp4", port, ""}, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
      });
    }
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 1, [&](std::size_t, const std::string& r) {
      auto id_at = r.find("X-Worker-Id: ");
      bool ok = r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0 && id_at != std::string::npos &&
                r.size() >= 12 && r.compare(r.size() - 12, 12, "hello world\n") == 0;
      if (!ok) {
        bad.push_back(r);
        return;
      }
      ++by_worker[r.substr(id_at + 13, r.find("\r\n", id_at) - id_at - 13)];
    }, [] { cluster::disconnect(); });
  });
  on(ev::exit, [&](Worker& w, int code) { exit_codes[w.id()] = code; });
  fork({{"PORT", "0"}});
  fork({{"PORT", "0"}});
  run_loop();
  ASSERT_EQ(listening.size(), 2u);
  EXPECT_EQ(listening[0].port, listening[1].port);
  EXPECT_GT(listening[0].port, 0);
  EXPECT_TRUE(bad.empty()) << bad.front();
  int total = 0;
  for (auto& [id, n] : by_worker) total += n;
  EXPECT_EQ(total, requests);
  if (GetParam() == sched_rr) EXPECT_EQ(by_worker.size(), 2u);
  EXPECT_EQ(exit_codes, (std::map<int, int>{{1, 0}, {2, 0}}));
}

// Verifies C++ workers serve under a Node.js primary: node_primary_server.js checks the shared
// port, real HTTP answers and the clean disconnect, and exits 0.
TEST_P(NodeServer, NodePrimaryCppHttpWorkers) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  if (GetParam() == sched_reuseport) GTEST_SKIP() << "a Node primary has no sched_reuseport";
  const std::string policy = GetParam() == sched_rr ? "rr" : "none";
  std::string cmd = "timeout 60 node " + tests_dir() + "/interop/node_primary_server.js " + self_exe() + " " + policy;
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

INSTANTIATE_TEST_SUITE_P(Interop, NodeServer, testing::Values(sched_rr, sched_none, sched_reuseport), policy_name);

// Verifies that under sched_reuseport the connections waiting in a killed Node worker's socket are
// handed (newconn) to the surviving Node worker, which takes them into its server as Node's
// child.js does for any handle: every request is answered by worker 2.
TEST(NodeServerReusePort, WaitingConnectionsOfKilledNodeWorkerGoToSurvivor) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_http_worker.js",
                 .args = std::vector<std::string>{}});
  constexpr int n = 30;  // about half wait in the stopped worker's queue (none: a 2^-30 chance)
  int listening = 0;
  std::map<std::string, int> by_worker;
  std::vector<std::string> bad;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto stopped = fork({{"PORT", "0"}});
  auto survivor = fork({{"PORT", "0"}});
  on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    if (!net_test::stop_worker(*stopped, survivor.get())) return;
    std::vector<int> fds;
    for (int i = 0; i < n; ++i) fds.push_back(net_test::connect_to({"tcp4", a.port, ""}));
    stopped->kill(SIGKILL);
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int fd : fds) {
      jobs.push_back([fd] {
        if (fd < 0) return std::string("<connect error>");
        const std::string req = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
          ::close(fd);
          return std::string("<send error>");
        }
        return net_test::read_all(fd);
      });
    }
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), n, [&](std::size_t, const std::string& r) {
      auto id_at = r.find("X-Worker-Id: ");
      if (r.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || id_at == std::string::npos) {
        bad.push_back(r);
        return;
      }
      ++by_worker[r.substr(id_at + 13, r.find("\r\n", id_at) - id_at - 13)];
    }, [&] { survivor->disconnect(); });
  });
  run_loop();
  EXPECT_TRUE(bad.empty()) << bad.size() << " bad, first: '" << bad.front() << "'";
  EXPECT_EQ(by_worker, (std::map<std::string, int>{{"2", n}}));
}

}  // namespace
