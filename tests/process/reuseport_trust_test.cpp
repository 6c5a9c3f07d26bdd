// sched_reuseport under faults: a stalled worker's waiting connections go to the others; planned
// restarts under load reset nothing (the primary serves a departed worker's socket until a
// newcomer takes it, on a kernel with tcp_migrate_req=0 as on most); a port another program
// listens on is refused, as under sched_rr.
#include "net_test_client.hpp"
#include "pool_support.hpp"
#include "support/storm_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>
#include <cluster/scheduler.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

// Listens on 127.0.0.1:PORT (0 when unset) and answers each connection with its id; a listen
// error is sent to the primary as {error: name}.
WORKER_ROLE(rp_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  server->on(ev::error, [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); });
  const char* port = std::getenv("PORT");
  server->listen(port ? std::atoi(port) : 0, "127.0.0.1");
}

// Answers each connection's first bytes (an HTTP request) with "ok", then ends it.
WORKER_ROLE(rp_http_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->once(ev::data, [s](std::string_view) { s->end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); });
  });
  server->listen(0, "127.0.0.1");
}

namespace {

// Verifies that a busy but healthy worker is not taken for stalled: the only worker under
// sched_reuseport, checked every 50 ms (handoff_timeout_ms 100), with 16 clients opening a
// connection per request. Its queue is often non-empty at two checks in a row, but its thread
// waits in its event loop between bursts, so the primary hands off (rescues) few of the
// connections. (Taken for stalled, it was paused with nobody else to take its queue: requests
// waited for the next check that found it idle, up to seconds under steady load.)
TEST(ReusePortTrust, BusyWorkerIsNotTakenForStalled) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  setup_primary({.handoff_timeout_ms = 100u});
  constexpr std::uint64_t target = 10000;
  std::unique_ptr<storm::Client> client;
  storm::Counts counts;
  std::uint64_t handed_off = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto w = fork_role("rp_http_worker");
  std::function<void()> watch = [&] {
    const bool enough = client->counts().total() >= target || std::chrono::steady_clock::now() > deadline;
    if (!enough) return after(20, watch);
    pool_test::stop_client(*client, [&](const storm::Counts& c) {
      counts = c;
      handed_off = connection_stats(*w).handed_off;
      w->disconnect();
    });
  };
  on(ev::listening, [&](Worker&, const Address& a) {
    client = std::make_unique<storm::Client>(a.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 200", 16);
    client->start();
    after(20, watch);
  });
  run_loop(std::chrono::seconds(90));
  std::printf("[ load     ] %s, handed off by the primary: %llu\n", counts.summary().c_str(),
              static_cast<unsigned long long>(handed_off));
  EXPECT_GE(counts.total(), target) << "the load did not reach its count within 60 s";
  EXPECT_EQ(counts.failed(), 0u) << counts.summary();
  // Measured here: 0-4% handed off (0-2% on an idle machine; a loaded one may leave the worker
  // runnable but unscheduled through two checks), 8-13% with the queue-only test of before. A
  // false stall that stuck would hand off nearly everything after it.
  EXPECT_LT(handed_off, counts.total() / 4) << counts.summary();
}

// Verifies that while one of two workers is stopped (SIGSTOP) under sched_reuseport, every
// connection is answered by the other one: those the kernel puts in the stopped worker's queue
// are accepted by the primary and handed over (they waited for its resumption before).
TEST(ReusePortTrust, StalledWorkersQueueGoesToTheOthers) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 100;
  auto stalled = fork_role("rp_worker");
  auto other = fork_role("rp_worker");
  int listening = 0;
  std::map<std::string, int> replies;
  net_test::ClientThreads clients;
  on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    if (!net_test::stop_worker(*stalled, other.get())) return;
    std::vector<net_test::ClientThreads::Job> jobs(n, [port = a.port] { return net_test::request({"tcp4", port, ""}, ""); });
    clients.start(jobs, 8, [&](std::size_t, const std::string& r) { ++replies[r]; }, [&] {
      // All answered while it was still stopped.
      stalled->kill(SIGKILL);
      other->disconnect();
    });
  });
  run_loop();
  EXPECT_EQ(replies, (std::map<std::string, int>{{"worker 2\n", n}}));
}

// Verifies that rolling restarts under sched_reuseport and connection-per-request load (the
// oldest worker disconnected and a new one forked, 20 times) lose no request: no reset, no
// connection closed without an answer.
TEST(ReusePortTrust, RollingRestartsUnderLoadResetNothing) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int rounds = 20;
  std::unique_ptr<storm::Client> client;
  int restarts = 0, port = 0;
  bool stopping = false;
  // Waits for the clients' last requests, then stops the cluster.
  std::function<void()> wait = [&] {
    if (!client->finished()) return after(20, wait);
    client->stop();
    cluster::disconnect();
  };
  // Whenever two workers listen: the oldest leaves gracefully and a new one takes its place.
  on(ev::listening, [&](Worker&, const Address& a) {
    port = a.port;
    int listening = 0;
    for (auto& [id, w] : cluster::workers()) listening += w->state() == WorkerState::listening;
    if (listening < 2) return;
    if (!client) {
      client = std::make_unique<storm::Client>(port, "", "worker ", 16);
      client->start();
    }
    if (restarts == rounds) {
      stopping = true;
      client->request_stop();
      wait();
      return;
    }
    ++restarts;
    after(50, [&] {  // some load on the new worker first
      auto all = cluster::workers();
      all.begin()->second->disconnect();
      fork_role("rp_worker");
    });
  });
  fork_role("rp_worker");
  fork_role("rp_worker");
  run_loop(std::chrono::seconds(60));
  ASSERT_TRUE(client);
  const auto c = client->counts();
  std::printf("[ rolling  ] %d restarts: %s\n", restarts, c.summary().c_str());
  EXPECT_TRUE(stopping);
  EXPECT_GT(c[storm::Outcome::ok], 0u);
  EXPECT_EQ(c.failed(), 0u) << c.summary();
}

// Verifies that sched_reuseport refuses a port that another program's SO_REUSEPORT socket
// listens on (EADDRINUSE, as sched_rr), instead of quietly sharing its traffic.
TEST(ReusePortTrust, RefusesAPortAnotherProgramListensOn) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  const int intruder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(intruder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(intruder, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(intruder, 16), 0);
  socklen_t len = sizeof sa;
  ::getsockname(intruder, reinterpret_cast<sockaddr*>(&sa), &len);
  auto w = fork_role("rp_worker", {{"PORT", std::to_string(ntohs(sa.sin_port))}});
  std::string error;
  w->on(ev::message, [&](const Message& m) {
    error = m.value("error", "");
    w->kill(SIGKILL);
  });
  run_loop();
  ::close(intruder);
  EXPECT_EQ(error, "EADDRINUSE");
}

}  // namespace
