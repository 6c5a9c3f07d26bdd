// Server sharing under the three policies over TCP v4, v6 and Unix sockets: N workers listen on the
// same address through the primary, M client connections are all answered, and each worker's
// count is reported. Ports of test-cluster-net-listen.js, -http-pipe.js and the seed's
// "how it works" section.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <string>

using namespace cluster;
using namespace testing_support;

namespace {

int served = 0;

// Listens as NET_TRANSPORT says and answers each connection's first bytes with its worker id.
void listen_id_server(const std::shared_ptr<net::Server>& server) {
  const std::string transport = std::getenv("NET_TRANSPORT") ? std::getenv("NET_TRANSPORT") : "tcp4";
  net::ListenOptions o;
  if (transport == "unix") {
    o.path = std::getenv("NET_PATH");
  } else {
    o.host = transport == "tcp6" ? "::1" : "127.0.0.1";
  }
  server->on(ev::error, [](const std::system_error& e) {
    worker().send({{"error", err_name(e.code())}});
  });
  server->listen(o);
}

}  // namespace

WORKER_ROLE(net_id_server) {
  auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    ++served;
    net::Socket* raw = s.get();
    raw->on(ev::data, [raw](std::string_view) { raw->end("worker " + std::to_string(worker().id()) + "\n"); });
  });
  listen_id_server(server);
  worker().on(ev::message, [](const Message& m) {
    if (m.value("cmd", "") == "report") worker().send({{"count", served}});
  });
}

namespace {

struct Case {
  int policy;
  const char* transport;
};

const char* policy_name(int policy) {
  return policy == sched_rr ? "rr" : policy == sched_none ? "none" : "reuseport";
}

void PrintTo(const Case& c, std::ostream* os) { *os << policy_name(c.policy) << " " << c.transport; }

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return std::string(policy_name(info.param.policy)) + "_" + info.param.transport;
}

class Sharing : public testing::TestWithParam<Case> {};

// Verifies that N workers share one listening address, every one of M connections is answered,
// and the workers' own counts match what the clients saw; under sched_rr each worker gets exactly
// its share.
TEST_P(Sharing, EveryConnectionAnsweredAndCounted) {
  const Case c = GetParam();
  if (!net_test::use_policy(c.policy)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int workers_n = 3;
  constexpr int connections = 30;
  net_test::TempDir dir;
  net_test::Target target;
  target.transport = c.transport;
  target.path = dir.path() + "/sock";

  std::map<int, int> seen;      // worker id -> replies the clients got
  std::map<int, int> reported;  // worker id -> the worker's own count
  std::vector<Address> listening;
  std::unique_ptr<net_test::ClientThreads> clients;
  int errors = 0;
  int reports = 0;

  auto finish = [&] {
    for (auto& [id, w] : cluster::workers()) w->send({{"cmd", "report"}});
  };
  on(ev::message, [&](Worker& w, const Message& m) {
    if (m.contains("error")) {
      ++errors;
      ADD_FAILURE() << "worker " << w.id() << " error " << m["error"];
      cluster::disconnect();
    }
    if (m.contains("count")) {
      // A worker the kernel gave nothing (sched_none) reports 0 and appears in no reply.
      if (m["count"].get<int>() > 0) reported[w.id()] = m["count"].get<int>();
      ++reports;
      if (reports == workers_n) cluster::disconnect();
    }
  });
  on(ev::listening, [&](Worker&, const Address& a) {
    listening.push_back(a);
    if (static_cast<int>(listening.size()) != workers_n) return;
    target.port = a.port;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int i = 0; i < connections; ++i) jobs.push_back([target] { return net_test::request(target, "hi\n"); });
    clients = std::make_unique<net_test::ClientThreads>();
    // One client at a time, so the round-robin order is what is measured.
    clients->start(std::move(jobs), c.policy == sched_none ? 4 : 1, [&](std::size_t, const std::string& r) {
      int id = 0;
      if (std::sscanf(r.c_str(), "worker %d\n", &id) == 1) {
        ++seen[id];
      } else {
        ADD_FAILURE() << "bad reply '" << r << "'";
      }
    }, finish);
  });
  for (int i = 0; i < workers_n; ++i) fork_role("net_id_server", {{"NET_TRANSPORT", c.transport}, {"NET_PATH", target.path}});
  run_loop();

  ASSERT_EQ(static_cast<int>(listening.size()), workers_n);
  for (const auto& a : listening) {
    EXPECT_EQ(a.port, listening[0].port);
    if (std::string(c.transport) == "unix") {
      EXPECT_EQ(a.address_type, AddressType::unix_socket);
      EXPECT_EQ(a.address, target.path);
    } else {
      EXPECT_EQ(a.address_type, std::string(c.transport) == "tcp6" ? AddressType::tcp6 : AddressType::tcp4);
      EXPECT_GT(a.port, 0);
    }
  }
  int total = 0;
  for (auto& [id, n] : seen) total += n;
  EXPECT_EQ(total, connections);
  EXPECT_EQ(seen, reported);
  EXPECT_EQ(errors, 0);
  // Round-robin (a Unix socket under sched_reuseport too): strict turns, one client at a time.
  if (c.policy == sched_rr || (c.policy == sched_reuseport && std::string(c.transport) == "unix")) {
    EXPECT_EQ(static_cast<int>(seen.size()), workers_n);
    for (auto& [id, n] : seen) EXPECT_EQ(n, connections / workers_n) << "worker " << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Net, Sharing,
                         testing::Values(Case{sched_rr, "tcp4"}, Case{sched_rr, "tcp6"}, Case{sched_rr, "unix"},
                                         Case{sched_none, "tcp4"}, Case{sched_none, "tcp6"},
                                         Case{sched_none, "unix"}, Case{sched_reuseport, "tcp4"},
                                         Case{sched_reuseport, "tcp6"}, Case{sched_reuseport, "unix"}),
                         case_name);

}  // namespace
