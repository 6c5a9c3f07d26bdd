// sched_reuseport (beyond Node): each worker listens on its own SO_REUSEPORT socket, bound by the
// primary; the kernel spreads the connections; the connections waiting in a worker's socket when
// it dies are handed to the survivors instead of being reset; a Unix socket falls back to
// round-robin.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

using namespace cluster;
using namespace testing_support;

// Listens on 127.0.0.1:0 (or NET_PATH) and answers each connection with its id. On "socket" it
// reports its listening socket (SO_REUSEPORT and inode).
WORKER_ROLE(reuseport_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  server->on(ev::error, [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); });
  if (const char* path = std::getenv("NET_PATH")) {
    net::ListenOptions o;
    o.path = path;
    server->listen(o);
  } else {
    server->listen(0, "127.0.0.1");
  }
  worker().on(ev::message, [](const Message& m) {
    if (m == "socket") {
      const Handle h = server->to_handle();
      int reuse = 0;
      socklen_t len = sizeof reuse;
      struct stat st{};
      const bool ok = h && getsockopt(h.fd(), SOL_SOCKET, SO_REUSEPORT, &reuse, &len) == 0 && fstat(h.fd(), &st) == 0;
      worker().send({{"has_socket", ok}, {"reuseport", reuse}, {"inode", static_cast<long long>(st.st_ino)}});
    }
  });
}

namespace {

// Verifies each worker gets its own SO_REUSEPORT socket on the same port (no accept in the
// primary), and connections from many source ports reach both workers and are all answered.
TEST(ReusePort, EachWorkerListensOnItsOwnSocket) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 100;
  std::vector<Address> listening;
  std::map<int, Message> sockets;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  on(ev::listening, [&](Worker& w, const Address& a) {
    listening.push_back(a);
    w.send("socket");
  });
  on(ev::message, [&](Worker& w, const Message& m, Handle&) {
    if (m.contains("error")) {
      ADD_FAILURE() << "worker error " << m["error"];
      cluster::disconnect();
      return;
    }
    sockets[w.id()] = m;
    if (sockets.size() != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs;
    const int port = listening[0].port;
    for (int i = 0; i < n; ++i) jobs.push_back([port] { return net_test::request({"tcp4", port, ""}, ""); });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 4, [&](std::size_t, const std::string& r) { ++replies[r]; },
                   [] { cluster::disconnect(); });
  });
  fork_role("reuseport_worker");
  fork_role("reuseport_worker");
  run_loop();
  ASSERT_EQ(listening.size(), 2u);
  EXPECT_GT(listening[0].port, 0);
  EXPECT_EQ(listening[0].port, listening[1].port);
  ASSERT_EQ(sockets.size(), 2u);
  for (auto& [id, m] : sockets) {
    EXPECT_EQ(m["has_socket"], true) << "worker " << id;
    EXPECT_EQ(m["reuseport"], 1) << "worker " << id;
  }
  EXPECT_NE(sockets.begin()->second["inode"], sockets.rbegin()->second["inode"]);
  // 100 connections from distinct source ports: both workers get some (a 2^-99 chance otherwise).
  EXPECT_EQ(replies.size(), 2u);
  int total = 0;
  for (auto& [r, c] : replies) total += c;
  EXPECT_EQ(total, n);
}

// Verifies the connections waiting in a killed worker's socket (the kernel completed them, nobody
// accepted them) are handed to the survivor: every client is answered, by the survivor.
TEST(ReusePort, WaitingConnectionsOfKilledWorkerGoToSurvivor) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 40;  // about half wait in the frozen worker's queue (none: a 2^-40 chance)
  int listening = 0, port = 0;
  std::map<std::string, int> replies;
  std::vector<int> fds;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto frozen = fork_role("reuseport_worker");
  auto survivor = fork_role("reuseport_worker");
  std::string frozen_exit;
  on(ev::listening, [&](Worker&, const Address& a) {
    port = a.port;
    if (++listening != 2) return;
    if (!net_test::stop_worker(*frozen, survivor.get())) return;
    // Connections complete in the kernel whether or not anyone accepts them.
    for (int i = 0; i < n; ++i) fds.push_back(net_test::connect_to({"tcp4", port, ""}));
    frozen->kill(SIGKILL);
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int fd : fds) jobs.push_back([fd] { return fd < 0 ? std::string("<connect error>") : net_test::read_all(fd); });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), n, [&](std::size_t, const std::string& r) { ++replies[r]; },
                   [&] { survivor->disconnect(); });
  });
  frozen->on(ev::exit, [&](int, std::string_view sig) { frozen_exit = sig; });
  run_loop();
  EXPECT_EQ(frozen_exit, "SIGKILL");
  EXPECT_EQ(replies, (std::map<std::string, int>{{"worker 2\n", n}}));
}

// Verifies a Unix socket path, which SO_REUSEPORT does not cover, is served round-robin: the
// workers have no socket of their own and take turns.
TEST(ReusePort, UnixSocketFallsBackToRoundRobin) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  net_test::TempDir dir;
  const std::string path = dir.path() + "/sock";
  int listening = 0, reports = 0;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  on(ev::listening, [&](Worker& w, const Address&) {
    w.send("socket");
    if (++listening != 2) return;
  });
  on(ev::message, [&](Worker&, const Message& m, Handle&) {
    EXPECT_EQ(m.value("has_socket", true), false);
    if (++reports != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int i = 0; i < 10; ++i) jobs.push_back([path] { return net_test::request({"unix", 0, path}, ""); });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 1, [&](std::size_t, const std::string& r) { ++replies[r]; },
                   [] { cluster::disconnect(); });
  });
  fork_role("reuseport_worker", {{"NET_PATH", path}});
  fork_role("reuseport_worker", {{"NET_PATH", path}});
  run_loop();
  EXPECT_EQ(replies, (std::map<std::string, int>{{"worker 1\n", 5}, {"worker 2\n", 5}}));
}

}  // namespace
