// The three listen cases of the seed's "how it works": listen(0) gives every worker the same port
// (and a second server in one worker its own: test-cluster-child-index-net.js), listen({fd}) uses
// the primary's descriptor (test-listen-fd-cluster.js), listen(handle) never asks the primary
// (test-net-listen-handle-in-cluster-2.js).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

namespace {

// Answers every connection with "worker <id>\n" and ends it.
std::shared_ptr<net::Server> id_server() {
  return net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
}

void report_errors(const std::shared_ptr<net::Server>& s) {
  s->on(ev::error, [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); });
}

// A TCP socket bound to 127.0.0.1 on a free port, not yet listening; its port in *port.
int bound_socket(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0) return -1;
  socklen_t len = sizeof in;
  getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
  *port = ntohs(in.sin_port);
  return fd;
}

}  // namespace

WORKER_ROLE(net_listen_zero_twice) {
  static auto a = id_server();
  static auto b = id_server();
  report_errors(a);
  report_errors(b);
  a->listen(0, [] {
    b->listen(0, [] { worker().send({{"a", a->address()->port}, {"b", b->address()->port}}); });
  });
}

WORKER_ROLE(net_listen_fd) {
  static auto s = id_server();
  report_errors(s);
  net::ListenOptions o;
  o.fd = std::atoi(std::getenv("LISTEN_FD"));
  s->listen(o, [] { worker().send({{"listening", true}}); });
}

WORKER_ROLE(net_listen_handle) {
  static auto s = id_server();
  report_errors(s);
  int port = 0;
  int fd = bound_socket(&port);
  s->listen(Handle::adopt(fd, HandleType::net_server), [port] { worker().send({{"port", port}}); });
  // The server is not the cluster's, so disconnect() leaves it open (as in Node): close it here.
  worker().on(ev::disconnect, [] { s->close(); });
}

namespace {

class ListenPolicy : public testing::TestWithParam<int> {};

std::string policy_name(const testing::TestParamInfo<int>& info) { return info.param == sched_rr ? "rr" : "none"; }

// Verifies that listen(0) gives every worker the same port, a second listen(0) in the same worker
// a different one shared in turn, and that the port serves connections.
TEST_P(ListenPolicy, ListenZeroSamePortPerIndex) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  std::map<int, std::pair<int, int>> ports;
  std::vector<Address> events;
  std::unique_ptr<net_test::ClientThreads> clients;
  std::vector<std::string> replies;
  on(ev::listening, [&](Worker&, const Address& a) { events.push_back(a); });
  on(ev::message, [&](Worker& w, const Message& m) {
    if (m.contains("error")) {
      ADD_FAILURE() << m;
      cluster::disconnect();
      return;
    }
    ports[w.id()] = {m["a"].get<int>(), m["b"].get<int>()};
    if (ports.size() != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int port : {ports[1].first, ports[1].second}) {
      jobs.push_back([port] { return net_test::request({"tcp4", port, ""}, ""); });
    }
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 2, [&](std::size_t, const std::string& r) { replies.push_back(r); },
                   [] { cluster::disconnect(); });
  });
  fork_role("net_listen_zero_twice");
  fork_role("net_listen_zero_twice");
  run_loop();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[1].first, ports[2].first);
  EXPECT_EQ(ports[1].second, ports[2].second);
  EXPECT_NE(ports[1].first, ports[1].second);
  EXPECT_GT(ports[1].first, 0);
  ASSERT_EQ(events.size(), 4u);
  for (const auto& a : events) {
    EXPECT_TRUE(a.port == ports[1].first || a.port == ports[1].second) << a.port;
    EXPECT_EQ(a.address, "");  // Node: the address the worker asked for, null here
    EXPECT_EQ(a.address_type, AddressType::tcp4);
  }
  ASSERT_EQ(replies.size(), 2u);
  for (const auto& r : replies) EXPECT_EQ(r.rfind("worker ", 0), 0u) << r;
}

// Verifies listen({fd}) in a worker listens on the primary's descriptor (the worker's own fd
// with that number is not touched), and every worker serves on it.
TEST_P(ListenPolicy, ListenFdUsesThePrimarysDescriptor) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  int port = 0;
  int fd = bound_socket(&port);
  ASSERT_GE(fd, 0);
  int ready = 0;
  std::vector<std::string> replies;
  std::unique_ptr<net_test::ClientThreads> clients;
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("error")) {
      ADD_FAILURE() << m;
      cluster::disconnect();
      return;
    }
    if (++ready != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs;
    for (int i = 0; i < 6; ++i) jobs.push_back([port] { return net_test::request({"tcp4", port, ""}, ""); });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(std::move(jobs), 1, [&](std::size_t, const std::string& r) { replies.push_back(r); },
                   [] { cluster::disconnect(); });
  });
  fork_role("net_listen_fd", {{"LISTEN_FD", std::to_string(fd)}});
  fork_role("net_listen_fd", {{"LISTEN_FD", std::to_string(fd)}});
  run_loop();
  ::close(fd);
  ASSERT_EQ(replies.size(), 6u);
  std::map<std::string, int> by_worker;
  for (const auto& r : replies) ++by_worker[r];
  for (const auto& [r, n] : by_worker) EXPECT_EQ(r.rfind("worker ", 0), 0u) << r;
  if (GetParam() == sched_rr) EXPECT_EQ(by_worker.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Net, ListenPolicy, testing::Values(sched_rr, sched_none), policy_name);

// Verifies listen(handle) in a worker uses the given socket without a queryServer: the primary
// sees no listening event and holds no handle, and the worker serves on its own port.
TEST(NetListen, ListenHandleSkipsThePrimary) {
  int listening = 0;
  std::string reply;
  std::unique_ptr<net_test::ClientThreads> clients;
  on(ev::listening, [&](Worker&) { ++listening; });
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("error")) {
      ADD_FAILURE() << m;
      cluster::disconnect();
      return;
    }
    const int port = m["port"].get<int>();
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[port] { return net_test::request({"tcp4", port, ""}, ""); }}, 1,
                   [&](std::size_t, const std::string& r) { reply = r; }, [] { cluster::disconnect(); });
  });
  fork_role("net_listen_handle");
  run_loop();
  EXPECT_EQ(reply, "worker 1\n");
  EXPECT_EQ(listening, 0);
}

}  // namespace
