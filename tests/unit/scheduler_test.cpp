// The built-in schedulers (cluster/scheduler.hpp) as plain functions, and RoundRobinHandle driving
// a scheduler behind an injected sender (no processes): the fair built-in is today's rule, a busy
// pick is waited for within the bound, a refusal goes to the fair choice, and the sticky hash
// moves only the clients of the workers that changed.
#include "round_robin_handle.hpp"
#include "unit/conn_stub.hpp"
#include "unit/loop_runner.hpp"

#include <cluster/cluster.hpp>
#include <cluster/scheduler.hpp>
#include <uv.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using cluster::Candidate;
using cluster::Pick;
using cluster::RoundRobinHandle;
using cluster::Scheduler;
using cluster::ServerInfo;
using unit_conn::conn;
using unit_conn::is_open;

namespace {

const ServerInfo server{"127.0.0.1:0:4:undefined:0", "127.0.0.1", 8000};

int pick(const Scheduler& s, std::vector<Candidate> cs, const sockaddr* peer = nullptr, socklen_t len = 0) {
  return s.pick(Pick{server, peer, len, cs});
}

Candidate cand(int id, std::uint64_t offered, std::uint32_t in_flight, std::int64_t open, std::uint64_t last,
               bool ready = true) {
  Candidate c;
  c.id = id;
  c.offered = offered;
  c.in_flight = in_flight;
  c.open = open;
  c.last_offer = last;
  c.ready = ready;
  return c;
}

sockaddr_in ipv4(std::uint32_t host_order) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(host_order);
  a.sin_port = htons(static_cast<std::uint16_t>(host_order));  // the port must not matter
  return a;
}

int sticky_pick(const std::vector<int>& ids, const sockaddr_in& a) {
  std::vector<Candidate> cs;
  for (int id : ids) cs.push_back(cand(id, 0, 0, -1, 0));
  return pick(Scheduler::sticky(), cs, reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

struct Sent {
  int worker;
  int fd;
  std::function<void(bool)> reply;
};

// A handle whose sender records each newconn (written at once).
struct Fixture {
  Fixture(std::size_t window, std::uint64_t timeout_ms)
      : rr(std::make_shared<RoundRobinHandle>(
            server.key.data(),
            [this](int worker, int fd, RoundRobinHandle::Delivery d) {
              d.written(true);
              sent.push_back({worker, fd, std::move(d.answered)});
              return true;
            },
            window, timeout_ms)) {}
  ~Fixture() {
    rr.reset();
    uv_run(cluster::loop(), UV_RUN_NOWAIT);  // closes the handle's timers
  }
  std::vector<Sent> sent;
  std::shared_ptr<RoundRobinHandle> rr;
};

Scheduler always(int id) {
  return Scheduler("always", [id](const Pick&) { return id; });
}

// Workers 1 and 2 with a scheduler that always picks 1; one connection goes to 1 and a second
// one (returned) waits for it.
int busy_worker_1(Fixture& f) {
  f.rr->set_scheduler(always(1), "", 0);
  f.rr->add(1);
  f.rr->add(2);
  f.rr->distribute(conn());
  const int b = conn();
  f.rr->distribute(b);
  EXPECT_EQ(f.sent.size(), 1u);
  return b;
}

// Verifies fair() picks the fewest offers among ready candidates, the longest-waiting on a tie.
TEST(Scheduler, FairPicksFewestOffersThenLongestWaiting) {
  auto f = Scheduler::fair();
  EXPECT_EQ(f.kind(), Scheduler::Kind::fair);
  EXPECT_EQ(pick(f, {cand(1, 5, 0, -1, 9), cand(2, 4, 0, -1, 10), cand(3, 4, 0, -1, 3)}), 3);
  EXPECT_EQ(pick(f, {cand(1, 5, 0, -1, 9), cand(2, 4, 8, -1, 10, false)}), 1);
  EXPECT_EQ(pick(f, {cand(1, 5, 8, -1, 9, false)}), -1);
}

// Verifies the public fair() pick, called through the generic path, hands out exactly as the
// handle's built-in rule does, whatever the answer order.
TEST(Scheduler, FairThroughCallbackMatchesBuiltInRule) {
  Fixture builtin(8, 0), called(8, 0);
  auto fair = Scheduler::fair();
  called.rr->set_scheduler(Scheduler("fair-called", [fair](const Pick& p) { return fair.pick(p); }), "", 0);
  std::mt19937 rng(7);
  for (Fixture* f : {&builtin, &called}) {
    f->rr->add(1);
    f->rr->add(2);
    f->rr->add(3);
  }
  std::size_t answered = 0;
  for (int i = 0; i < 300; ++i) {
    if (i == 100) {
      builtin.rr->add(4);
      called.rr->add(4);
    }
    builtin.rr->distribute(conn());
    called.rr->distribute(conn());
    // Answer a random number of the oldest unanswered, the same in both (a refusal goes to the
    // fair choice under a scheduler, a queue of its own: not compared here).
    const std::size_t n = rng() % 3;
    for (std::size_t k = 0; k < n && answered < builtin.sent.size() && answered < called.sent.size(); ++k) {
      builtin.sent[answered].reply(true);
      called.sent[answered].reply(true);
      ++answered;
    }
  }
  ASSERT_EQ(builtin.sent.size(), called.sent.size());
  for (std::size_t i = 0; i < builtin.sent.size(); ++i) EXPECT_EQ(builtin.sent[i].worker, called.sent[i].worker) << i;
  for (std::size_t i = answered; i < builtin.sent.size(); ++i) {
    builtin.sent[i].reply(true);
    called.sent[i].reply(true);
  }
}

// Verifies least_connections() weighs open + in-flight among ready candidates, and compares every
// candidate by in-flight + offered when one does not report its closes.
TEST(Scheduler, LeastConnectionsPicksFewestOpen) {
  auto lc = Scheduler::least_connections();
  EXPECT_EQ(pick(lc, {cand(1, 10, 0, 7, 1), cand(2, 50, 0, 2, 2), cand(3, 5, 1, 6, 3)}), 2);
  EXPECT_EQ(pick(lc, {cand(1, 10, 0, 7, 1), cand(2, 50, 4, 2, 2), cand(3, 5, 0, 6, 3)}), 3);  // 2: 2+4
  EXPECT_EQ(pick(lc, {cand(1, 10, 0, 7, 1), cand(2, 50, 0, 2, 2, false)}), 1);  // 2 has no room
  EXPECT_EQ(pick(lc, {cand(1, 10, 0, 7, 2), cand(2, 10, 0, 7, 1)}), 2);         // tie: longest waiting
  // Worker 2 is a Node worker (open unknown): offered + in-flight decide.
  EXPECT_EQ(pick(lc, {cand(1, 10, 0, 0, 1), cand(2, 4, 1, -1, 2)}), 2);
}

// Verifies sticky() gives one address the same worker every time, whatever its port, and asks for
// the client's address.
TEST(Scheduler, StickyIsStablePerAddress) {
  EXPECT_EQ(Scheduler::sticky().needs(), Scheduler::Needs::peer_address);
  EXPECT_EQ(Scheduler::least_connections().needs(), Scheduler::Needs::nothing);
  const std::vector<int> ids{1, 2, 3, 4};
  std::map<int, int> per_worker;
  for (std::uint32_t i = 0; i < 400; ++i) {
    auto a = ipv4(0x0a000000u + i * 2654435761u % 65536);
    const int w = sticky_pick(ids, a);
    auto b = a;
    b.sin_port = htons(1234);
    EXPECT_EQ(sticky_pick(ids, b), w);
    ++per_worker[w];
  }
  ASSERT_EQ(per_worker.size(), 4u);
  for (auto& [w, n] : per_worker) EXPECT_GT(n, 50) << w;  // a spread, not one worker
  // An IPv4 client seen through a dual-stack (IPv6) server is the same client.
  auto a = ipv4(0x7f000005);
  sockaddr_in6 m{};
  m.sin6_family = AF_INET6;
  m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&m.sin6_addr.s6_addr[12], &a.sin_addr, 4);
  EXPECT_EQ(cluster::address_hash(reinterpret_cast<const sockaddr*>(&m), sizeof m),
            cluster::address_hash(reinterpret_cast<const sockaddr*>(&a), sizeof a));
  EXPECT_EQ(pick(Scheduler::sticky(), {cand(1, 0, 0, -1, 0)}), -1);  // no address: the fair choice
}

// Verifies adding a fifth worker moves only about a fifth of the addresses, all of them to the
// newcomer, and removing one moves only that worker's addresses.
TEST(Scheduler, StickyHashMovesOnlyTheChangedWorkersClients) {
  const std::vector<int> four{1, 2, 3, 4}, five{1, 2, 3, 4, 5}, without3{1, 2, 4};
  std::mt19937 rng(42);
  const int n = 2000;
  int moved_to_5 = 0, moved_elsewhere = 0, moved_off_3 = 0, other_moves = 0;
  for (int i = 0; i < n; ++i) {
    auto a = ipv4(static_cast<std::uint32_t>(rng()));
    const int before = sticky_pick(four, a);
    const int after = sticky_pick(five, a);
    if (after != before) (after == 5 ? moved_to_5 : moved_elsewhere)++;
    const int removed = sticky_pick(without3, a);
    if (removed != before) (before == 3 ? moved_off_3 : other_moves)++;
  }
  EXPECT_EQ(moved_elsewhere, 0);
  EXPECT_GT(moved_to_5, n / 5 - n / 20);  // 1/5 give or take 5%
  EXPECT_LT(moved_to_5, n / 5 + n / 20);
  EXPECT_EQ(other_moves, 0);
  EXPECT_GT(moved_off_3, n / 4 - n / 20);
  EXPECT_LT(moved_off_3, n / 4 + n / 20);
}

// Verifies a scheduler that picks a worker with a full window makes the connection wait for that
// worker (not the idle one), and it goes there as soon as the worker answers.
TEST(Scheduler, BusyPickWaitsForItsWorker) {
  Fixture f(1, 1000);
  const int b = busy_worker_1(f);
  EXPECT_EQ(f.sent[0].worker, 1);
  EXPECT_EQ(f.rr->queued(), 1u);
  EXPECT_EQ(f.rr->waits(), 1u);
  f.sent[0].reply(true);
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].worker, 1);
  EXPECT_EQ(f.sent[1].fd, b);
  f.sent[1].reply(true);
  EXPECT_FALSE(is_open(b));
  EXPECT_EQ(f.rr->sticky_fallbacks(), 0u);
}

// Verifies a connection waiting for a worker that stays busy goes to the fair choice once the
// bound passes (the handle's own timer: nothing else happens meanwhile).
TEST(Scheduler, BusyPickFallsBackAfterTheBound) {
  Fixture f(1, 30);
  const int b = busy_worker_1(f);
  ASSERT_TRUE(unit_loop::run(std::chrono::seconds(10)));  // ends once the wait timer has fired
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].worker, 2);
  EXPECT_EQ(f.sent[1].fd, b);
  EXPECT_EQ(f.rr->sticky_fallbacks(), 1u);
  f.sent[0].reply(true);
  f.sent[1].reply(true);
}

// Verifies a refused connection goes to the fair choice (the scheduler would pick the refusing
// worker again), and connections waiting for a worker that dies are picked again among the rest.
TEST(Scheduler, RefusalAndDeathGoElsewhere) {
  Fixture f(1, 1000);
  f.rr->set_scheduler(always(1), "", 0);
  f.rr->add(1);
  f.rr->add(2);
  int a = conn(), b = conn(), c = conn();
  f.rr->distribute(a);
  f.sent[0].reply(false);  // 1 refuses a
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].worker, 2);
  EXPECT_EQ(f.sent[1].fd, a);
  f.sent[1].reply(true);
  f.rr->distribute(b);  // to 1
  f.rr->distribute(c);  // waits for 1
  ASSERT_EQ(f.sent.size(), 3u);
  EXPECT_EQ(f.rr->remove(1, RoundRobinHandle::Leaving::unreachable), false);
  // b (in flight) and c (waiting) both reach 2: the pick (1) is no candidate any more.
  ASSERT_EQ(f.sent.size(), 4u);
  EXPECT_EQ(f.sent[3].worker, 2);
  EXPECT_EQ(f.sent[3].fd, b);
  f.sent[3].reply(true);
  ASSERT_EQ(f.sent.size(), 5u);
  EXPECT_EQ(f.sent[4].worker, 2);
  EXPECT_EQ(f.sent[4].fd, c);
  f.sent[4].reply(true);
  EXPECT_EQ(f.rr->queued(), 0u);
}

// Verifies the handle passes what it knows: candidates by id with their counts and the open count
// from the worker's totals, the server, and no peer address unless asked.
TEST(Scheduler, SeesCandidatesAndServer) {
  Fixture f(8, 0);
  std::vector<Candidate> seen;
  bool had_peer = true;
  std::string key;
  int port = 0;
  f.rr->set_scheduler(Scheduler("spy",
                                [&](const Pick& p) {
                                  seen.assign(p.candidates.begin(), p.candidates.end());
                                  had_peer = p.peer != nullptr;
                                  key = std::string(p.server.key);
                                  port = p.server.port;
                                  return -1;
                                }),
                      "127.0.0.1", 8000);
  auto totals = std::make_shared<cluster::sched::WorkerTotals>();
  totals->reports = true;
  totals->handed_off = 5;
  totals->closed = 2;
  f.rr->add(2, totals);
  f.rr->add(1);
  f.rr->distribute(conn());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].id, 1);
  EXPECT_EQ(seen[0].open, -1);
  EXPECT_EQ(seen[1].id, 2);
  EXPECT_EQ(seen[1].open, 3);
  EXPECT_TRUE(seen[0].ready);
  EXPECT_FALSE(had_peer);
  EXPECT_EQ(key, std::string(server.key));
  EXPECT_EQ(port, 8000);
  ASSERT_EQ(f.sent.size(), 1u);
  f.sent[0].reply(true);
  EXPECT_EQ(totals->handed_off, f.sent[0].worker == 2 ? 6u : 5u);
  EXPECT_EQ(f.rr->in_flight_of(f.sent[0].worker), 0u);
}

}  // namespace
