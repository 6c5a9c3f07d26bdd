// Schedulers with real workers (cluster/scheduler.hpp): sticky keeps each client address on one
// worker and a fifth worker takes about a fifth of them; least_connections evens out long-lived
// connections by the open counts C++ workers report; a picked worker that dies with a connection
// in flight has it served by another; Node workers (which never report) work under
// least_connections. Clients bind distinct 127.0.0.x source addresses to be distinct clients.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>
#include <cluster/scheduler.hpp>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(sched_hold_server) {
  // Says its id at once and keeps each connection open until the client closes it.
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->write("worker " + std::to_string(worker().id()) + "\n");
    net::Socket* raw = s.get();
    raw->on(ev::end, [raw] { raw->end(); });
  });
  server->listen(0, "127.0.0.1");
}

namespace {

// Sets the scheduler (and a hand-off deadline) for one test, and puts back the defaults after.
struct SchedulerScope {
  SchedulerScope(Scheduler s, unsigned handoff_timeout_ms) {
    setup_primary({.handoff_timeout_ms = handoff_timeout_ms, .scheduler = std::move(s)});
  }
  ~SchedulerScope() {
    setup_primary({.handoff_timeout_ms = default_handoff_timeout_ms, .scheduler = Scheduler::fair()});
  }
};

// Calls fn every 5 ms on the loop until stop() (waiting for the primary's figures to settle; the
// test's deadlock guard bounds it).
class Poller {
 public:
  Poller() {
    uv_timer_init(cluster::loop(), &t_);
    t_.data = this;
  }
  ~Poller() {
    uv_close(reinterpret_cast<uv_handle_t*>(&t_), nullptr);
    uv_run(cluster::loop(), UV_RUN_NOWAIT);
  }
  void every_5ms(std::function<void()> fn) {
    fn_ = std::move(fn);
    uv_timer_start(&t_, [](uv_timer_t* t) { static_cast<Poller*>(t->data)->fn_(); }, 5, 5);
  }
  void stop() { uv_timer_stop(&t_); }

 private:
  uv_timer_t t_{};
  std::function<void()> fn_;
};

// Connects from 127.0.0.<host> to 127.0.0.1:port (blocking, 20 s receive timeout); -1 on failure.
int connect_from(int host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7f000000u | static_cast<std::uint32_t>(host));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The worker id in a "worker N\n" line read from fd; 0 on anything else.
int read_worker_id(int fd) {
  char buf[64];
  std::size_t got = 0;
  while (got < sizeof buf - 1) {
    const ssize_t n = ::recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
    if (buf[got - 1] == '\n') break;
  }
  buf[got] = '\0';
  int id = 0;
  return std::sscanf(buf, "worker %d", &id) == 1 ? id : 0;
}

// One request from 127.0.0.<host> to an id server: the worker id that answered, or 0.
int ask_from(int host, int port) {
  const int fd = connect_from(host, port);
  if (fd < 0) return 0;
  ::send(fd, "hi\n", 3, MSG_NOSIGNAL);
  const int id = read_worker_id(fd);
  ::close(fd);
  return id;
}

// Runs ask_from for each host on one client thread (one connection at a time) and passes the
// worker ids, by host, to done on the loop.
void ask_all(std::vector<std::unique_ptr<net_test::ClientThreads>>& clients, const std::vector<int>& hosts,
             int port, std::function<void(std::map<int, int>)> done) {
  std::vector<net_test::ClientThreads::Job> jobs;
  for (int h : hosts) jobs.push_back([h, port] { return std::to_string(ask_from(h, port)); });
  // A new one each time (the previous one may be running the callback that calls this).
  clients.push_back(std::make_unique<net_test::ClientThreads>());
  auto hosts_copy = std::make_shared<std::vector<int>>(hosts);
  auto* c = clients.back().get();
  c->start(std::move(jobs), 1, nullptr, [c, hosts_copy, done = std::move(done)] {
    std::map<int, int> ids;
    for (std::size_t i = 0; i < hosts_copy->size(); ++i) ids[(*hosts_copy)[i]] = std::stoi(c->results()[i]);
    done(std::move(ids));
  });
}

// n jobs that each open a connection, read the worker's id and keep it open: "fd:id".
std::vector<net_test::ClientThreads::Job> open_jobs(int n, int port) {
  std::vector<net_test::ClientThreads::Job> jobs;
  for (int i = 0; i < n; ++i) {
    jobs.push_back([port] {
      const int fd = connect_from(1, port);
      if (fd < 0) return std::string("-1:0");
      return std::to_string(fd) + ":" + std::to_string(read_worker_id(fd));
    });
  }
  return jobs;
}

// Verifies sticky sessions: each of 200 client addresses reaches the same worker on every
// connection, and once a fifth worker joins the four, at most 30% of the addresses move, all of
// them to the newcomer. (Deadline off, one connection at a time: no pick ever finds a full window,
// so nothing here depends on timing.)
TEST(SchedulerProcess, StickyKeepsClientsAndAFifthWorkerTakesAFifth) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  SchedulerScope scope(Scheduler::sticky(), 0);
  std::vector<int> hosts;
  for (int h = 2; h < 202; ++h) hosts.push_back(h);
  std::vector<std::unique_ptr<net_test::ClientThreads>> clients;
  std::map<int, int> first, second, after;
  int listening = 0, port = 0, fifth = 0;
  // Removed with the test: it captures the test's locals.
  scoped_listener<ClusterEmitter> on_listening(events(), on(ev::listening, [&](Worker& w, const Address& a) {
    port = a.port;
    if (++listening < 4) return;
    if (listening == 4) {
      ask_all(clients, hosts, port, [&](std::map<int, int> ids) {
        first = std::move(ids);
        ask_all(clients, hosts, port, [&](std::map<int, int> ids2) {
          second = std::move(ids2);
          fork_role("net_id_server");
        });
      });
      return;
    }
    fifth = w.id();
    ask_all(clients, hosts, port, [&](std::map<int, int> ids) {
      after = std::move(ids);
      cluster::disconnect();
    });
  }));
  for (int i = 0; i < 4; ++i) fork_role("net_id_server");
  run_loop();
  ASSERT_EQ(first.size(), hosts.size());
  ASSERT_EQ(after.size(), hosts.size());
  std::map<int, int> per_worker;
  int moved = 0, moved_elsewhere = 0;
  for (int h : hosts) {
    ASSERT_GT(first[h], 0) << "host " << h;
    EXPECT_EQ(second[h], first[h]) << "host " << h;
    ++per_worker[first[h]];
    if (after[h] != first[h]) (after[h] == fifth ? moved : moved_elsewhere)++;
  }
  EXPECT_EQ(per_worker.size(), 4u);  // spread over the four, not stuck on one
  EXPECT_EQ(moved_elsewhere, 0);
  EXPECT_GT(moved, 0);
  EXPECT_LE(moved, 60);  // 30% of 200 (a fifth is expected)
}

// Verifies least_connections evens out long-lived connections by open count: 16 connections
// spread 4/4/4/4, the clients of two workers close theirs, and the next 24 go to those two first,
// ending 8/8/8/8 (the fair rule would end 6/6/10/10). connection_stats agrees with the clients.
TEST(SchedulerProcess, LeastConnectionsEvensOutLongConnections) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  SchedulerScope scope(Scheduler::least_connections(), 0);
  std::map<int, std::vector<int>> held;  // worker id -> client descriptors held open
  std::vector<int> ids;                   // the workers' ids, in fork order (not 1-4 after other tests)
  int listening = 0, port = 0;
  Poller poll;
  std::unique_ptr<net_test::ClientThreads> clients;
  std::map<int, int> final_open;
  std::map<int, ConnectionStats> stats;
  // Removed with the test: it captures the test's locals.
  scoped_listener<ClusterEmitter> on_listening(events(), on(ev::listening, [&](Worker&, const Address& a) {
    port = a.port;
    if (++listening < 4) return;
    // Phase 1 on a client thread: 16 connections, each kept open; the thread returns "fd:id".
    auto collect = [&held](const std::vector<std::string>& results) {
      for (const auto& r : results) {
        const int fd = std::stoi(r.substr(0, r.find(':')));
        const int id = std::stoi(r.substr(r.find(':') + 1));
        if (fd >= 0) held[id].push_back(fd);
      }
    };
    clients = std::make_unique<net_test::ClientThreads>();
    auto* c = clients.get();
    clients->start(open_jobs(16, port), 1, nullptr, [&, c, collect] {
      collect(c->results());
      // Close every connection of the first two workers, then wait for their reports to reach the
      // primary.
      for (int id : {ids[0], ids[1]}) {
        for (int fd : held[id]) ::close(fd);
        held[id].clear();
      }
      poll.every_5ms([&, collect] {
        const auto w = cluster::workers();
        for (int id : {ids[0], ids[1]}) {
          auto it = w.find(id);
          if (it == w.end() || connection_stats(*it->second).open.value_or(1) != 0) return;  // not yet
        }
        poll.stop();
        // Phase 2: 24 more.
        clients = std::make_unique<net_test::ClientThreads>();
        auto* c2 = clients.get();
        clients->start(open_jobs(24, port), 1, nullptr, [&, c2, collect] {
          collect(c2->results());
          for (auto& [id, fds] : held) final_open[id] = static_cast<int>(fds.size());
          // The last answer may still be on its way to the primary: read the figures once settled.
          poll.every_5ms([&] {
            std::uint64_t in_flight = 0;
            for (auto& [id, w] : cluster::workers()) in_flight += connection_stats(*w).in_flight;
            if (in_flight) return;
            poll.stop();
            for (auto& [id, w] : cluster::workers()) stats[id] = connection_stats(*w);
            for (auto& [id, fds] : held) {
              for (int fd : fds) ::close(fd);
            }
            cluster::disconnect();
          });
        });
      });
    });
  }));
  for (int i = 0; i < 4; ++i) ids.push_back(fork_role("sched_hold_server")->id());
  run_loop();
  EXPECT_EQ(final_open, (std::map<int, int>{{ids[0], 8}, {ids[1], 8}, {ids[2], 8}, {ids[3], 8}}));
  ASSERT_EQ(stats.size(), 4u);
  for (auto& [id, s] : stats) {
    ASSERT_TRUE(s.open.has_value()) << id;  // C++ workers report
    EXPECT_EQ(*s.open, 8u) << id;
    EXPECT_EQ(s.in_flight, 0u) << id;
    EXPECT_EQ(s.handed_off, id == ids[0] || id == ids[1] ? 12u : 8u) << id;
  }
}

// Verifies a connection in flight to the picked worker when it dies is served by another: the
// scheduler always picks the first candidate, which is stopped (SIGSTOP) so the connection waits unanswered
// in its window, then killed.
TEST(SchedulerProcess, PickedWorkerDyingMidHandOffIsServedByAnother) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  SchedulerScope scope(Scheduler("first", [](const Pick& p) { return p.candidates.front().id; }), 0);
  std::shared_ptr<Worker> first, second;
  int listening = 0;
  std::string reply;
  ConnectionStats second_stats;
  std::unique_ptr<net_test::ClientThreads> clients;
  Poller poll;
  // Removed with the test: it captures the test's locals.
  scoped_listener<ClusterEmitter> on_listening(events(), on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening < 2) return;
    if (!net_test::stop_worker(*first, second.get())) return;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[p = a.port] { return net_test::request({"tcp4", p, ""}, "hi\n"); }}, 1,
                   [&](std::size_t, const std::string& r) {
                     reply = r;
                     second_stats = connection_stats(*second);
                   },
                   [] { cluster::disconnect(); });
    poll.every_5ms([&] {
      if (connection_stats(*first).in_flight != 1) return;  // not sent yet
      poll.stop();
      first->kill(SIGKILL);
    });
  }));
  first = fork_role("net_id_server");
  second = fork_role("net_id_server");
  run_loop();
  EXPECT_EQ(reply, "worker " + std::to_string(second->id()) + "\n");
  EXPECT_EQ(second_stats.handed_off, 1u);
}

// Verifies unmodified Node.js workers (they never report closes) serve every connection under
// least_connections, both of them, and their open count reads as unknown.
TEST(SchedulerProcess, NodeWorkersUnderLeastConnections) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  SchedulerScope scope(Scheduler::least_connections(), default_handoff_timeout_ms);
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_http_worker.js",
                 .args = std::vector<std::string>{}});
  constexpr int requests = 10;
  int listening = 0, ok = 0;
  std::map<std::string, int> by_worker;
  std::map<int, ConnectionStats> stats;
  std::unique_ptr<net_test::ClientThreads> clients;
  // Removed with the test: it captures the test's locals.
  scoped_listener<ClusterEmitter> on_listening(events(), on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int i = 0; i < requests; ++i) {
      jobs.push_back([p = a.port] {
        return net_test::request({"tcp4", p, ""}, "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
      });
    }
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 2, [&](std::size_t, const std::string& r) {
      auto at = r.find("X-Worker-Id: ");
      if (r.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || at == std::string::npos) return;
      ++ok;
      ++by_worker[r.substr(at + 13, r.find("\r\n", at) - at - 13)];
    }, [&] {
      for (auto& [id, w] : cluster::workers()) stats[id] = connection_stats(*w);
      cluster::disconnect();
    });
  }));
  fork({{"PORT", "0"}});
  fork({{"PORT", "0"}});
  run_loop();
  setup_primary({.exec_path = "", .exec = self_exe()});
  EXPECT_EQ(ok, requests);
  EXPECT_EQ(by_worker.size(), 2u);
  ASSERT_EQ(stats.size(), 2u);
  std::uint64_t handed = 0;
  for (auto& [id, s] : stats) {
    EXPECT_FALSE(s.open.has_value()) << id;
    handed += s.handed_off;
  }
  EXPECT_EQ(handed, static_cast<std::uint64_t>(requests));
}

}  // namespace
