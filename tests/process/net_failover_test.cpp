// Round-robin hand-off when a worker cannot take its connection: a worker killed with a newconn in
// flight (its connection goes to a survivor; Node loses it), a worker refusing connections
// (test-cluster-net-server-drop-connection.js), and the last worker leaving (queued connections
// are closed, test-cluster-worker-handle-close.js).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"

#include <cluster/net.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

using namespace cluster;
using namespace testing_support;

// Answers with its id. MAX_CONNECTIONS sets maxConnections. (Tests stop it with SIGSTOP to make a
// worker that never answers its newconn.)
WORKER_ROLE(net_rr_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  if (const char* max = std::getenv("MAX_CONNECTIONS")) server->set_max_connections(std::atoi(max));
  server->listen(0, "127.0.0.1");
}

// As net_rr_worker, but first appends each connection's client port to $CONN_LOG (one write per
// line, O_APPEND), so a test can see whether any connection was taken by two workers.
WORKER_ROLE(net_rr_logger) {
  static int log = ::open(std::getenv("CONN_LOG"), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    auto peer = s->remote_address();
    const std::string line = std::to_string(peer ? peer->port : 0) + "\n";
    if (::write(log, line.data(), line.size()) < 0) std::exit(9);
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  server->listen(0, "127.0.0.1");
}

namespace {

std::vector<net_test::ClientThreads::Job> requests(int port, int n) {
  std::vector<net_test::ClientThreads::Job> jobs;
  for (int i = 0; i < n; ++i) jobs.push_back([port] { return net_test::request({"tcp4", port, ""}, ""); });
  return jobs;
}

// Once `workers` workers listen, sends n requests, `concurrency` at a time, and counts each reply
// in replies; when all are answered, disconnects the cluster (so run_loop returns).
void count_replies_once_listening(int workers, int n, int concurrency, std::map<std::string, int>& replies,
                                  std::unique_ptr<net_test::ClientThreads>& clients) {
  on(ev::listening, [&, workers, n, concurrency, listening = std::make_shared<int>(0)](Worker&, const Address& a) {
    if (++*listening != workers) return;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(requests(a.port, n), concurrency, [&](std::size_t, const std::string& r) { ++replies[r]; },
                   [] { cluster::disconnect(); });
  });
}

// Verifies that a connection in flight to a worker that dies without answering goes to another
// worker: every client is answered, by the survivor.
TEST(NetFailover, InFlightConnectionOfKilledWorkerGoesToSurvivor) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 6;
  int listening = 0, port = 0;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto frozen = fork_role("net_rr_worker");
  auto survivor = fork_role("net_rr_worker");
  std::string frozen_exit;
  on(ev::listening, [&](Worker&, const Address& a) {
    port = a.port;
    if (++listening != 2) return;
    // Stopped (SIGSTOP, confirmed in /proc) before any connection exists, so it answers nothing.
    if (!net_test::stop_worker(*frozen, survivor.get())) return;
    // The frozen worker has room in the primary's eyes, so it is offered every other connection
    // (n/2, within its window), which it never answers; the survivor serves the others.
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(requests(port, n), n,
                   [&](std::size_t, const std::string& r) {
                     ++replies[r];
                     if (replies[r] == n / 2) frozen->kill(SIGKILL);
                   },
                   [&] { survivor->disconnect(); });
  });
  frozen->on(ev::exit, [&](int, std::string_view sig) { frozen_exit = sig; });
  run_loop();
  EXPECT_EQ(frozen_exit, "SIGKILL");
  EXPECT_EQ(replies, (std::map<std::string, int>{{"worker 2\n", n}}));
}

// Verifies that when the primary closes a worker's channel itself (worker.process().disconnect())
// with connections written to it but unanswered, those stay the worker's: it reads them before
// the end of the channel and may serve them, so they must not also go to another worker (each
// connection is logged by at most one worker, every client has one outcome).
TEST(NetFailover, PrimaryCutChannelNeverServesAConnectionTwice) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 6;
  net_test::TempDir dir;
  const std::string log = dir.path() + "/connections";
  int listening = 0;
  bool cut = false;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto frozen = fork_role("net_rr_logger", {{"CONN_LOG", log}});
  auto survivor = fork_role("net_rr_logger", {{"CONN_LOG", log}});
  std::string frozen_signal = "?";
  on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    if (!net_test::stop_worker(*frozen, survivor.get())) return;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(requests(a.port, n), n,
                   [&](std::size_t, const std::string& r) {
                     // The survivor has served its share: the other n/2 wait, written to the
                     // frozen worker's channel. Cut it, then let the worker run.
                     if (++replies[r] == n / 2 && r == "worker 2\n" && !cut) {
                       cut = true;
                       frozen->process().disconnect();
                       ::kill(frozen->process().pid(), SIGCONT);
                     }
                   },
                   [&] { survivor->disconnect(); });
  });
  frozen->on(ev::exit, [&](int, std::string_view sig) { frozen_signal = sig; });
  run_loop();
  EXPECT_TRUE(cut);
  EXPECT_EQ(frozen_signal, "");  // it left on its own when its channel ended
  // At least its share: a client thread that connects only after the cut (a loaded machine
  // starts threads late) is handed to the survivor, the one worker left.
  EXPECT_GE(replies["worker 2\n"], n / 2);
  int answered = 0;
  for (const auto& [r, count] : replies) {
    EXPECT_TRUE(r == "worker 2\n" || r == "worker 1\n" || r.empty()) << r;  // served, or closed by its exit
    answered += count;
  }
  EXPECT_EQ(answered, n);
  std::ifstream in(log);
  std::map<std::string, int> served;
  for (std::string port; std::getline(in, port);) ++served[port];
  EXPECT_GE(served.size(), static_cast<std::size_t>(n / 2));
  for (const auto& [port, count] : served) EXPECT_EQ(count, 1) << "client port " << port << " served twice";
}

// Verifies that connections a worker refuses (maxConnections reached: accepted:false) are given
// to another worker.
TEST(NetFailover, RefusedConnectionsGoToAnotherWorker) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 8;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  fork_role("net_rr_worker", {{"MAX_CONNECTIONS", "0"}});
  fork_role("net_rr_worker");
  count_replies_once_listening(2, n, 2, replies, clients);
  run_loop();
  EXPECT_EQ(replies, (std::map<std::string, int>{{"worker 2\n", n}}));
}

// Verifies the hand-off over busy-polling shared-memory rings (beyond Node; the descriptors ride
// the socket beside frames that travel through memory): every client is answered by one of the
// two workers, and both channels really run over the rings.
TEST(NetFailover, BusyPollRingsCarryHandOffs) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  setup_primary({.ipc_busy_poll_us = 200});
  constexpr int n = 40;
  std::map<std::string, int> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto a = fork_role("net_rr_worker");
  auto b = fork_role("net_rr_worker");
  const bool rings = detail::WorkerAccess::target(*a)->channel().uses_rings() &&
                     detail::WorkerAccess::target(*b)->channel().uses_rings();
  count_replies_once_listening(2, n, 4, replies, clients);
  run_loop();
  EXPECT_TRUE(rings);
  EXPECT_EQ(replies["worker 1\n"] + replies["worker 2\n"], n);
  EXPECT_EQ(replies.size(), 2u) << "only the two workers answer, both of them";
}

// Verifies that when the last worker of a server dies, the connections still queued or in flight
// are closed (the clients see EOF) rather than left hanging.
TEST(NetFailover, LastWorkerGoneClosesHeldConnections) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 3;
  int port = 0;
  std::vector<std::string> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto w = fork_role("net_rr_worker");
  w->on(ev::listening, [&](const Address& a) {
    port = a.port;
    if (!net_test::stop_worker(*w, nullptr)) return;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(requests(port, n), n, [&](std::size_t, const std::string& r) { replies.push_back(r); }, [] {});
    // The connections are in flight to the frozen worker.
    after(300, [&] { w->kill(SIGKILL); });
  });
  run_loop();
  EXPECT_EQ(replies, (std::vector<std::string>(n, "")));
}

}  // namespace
