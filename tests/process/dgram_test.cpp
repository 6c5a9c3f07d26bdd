// UDP in workers: bind() goes through the primary, which binds once and shares the socket
// (always, whatever the policy), so two workers receive on one port (test-cluster-dgram-1.js,
// test-cluster-dgram-2.js).
#include "support/test_support.hpp"

#include <cluster/dgram.hpp>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>

using namespace cluster;
using namespace testing_support;

// Binds UDP_TYPE on its loopback address, port 0, and answers each datagram with "pong <id> <msg>".
WORKER_ROLE(dgram_ponger) {
  const bool v6 = std::string(std::getenv("UDP_TYPE")) == "udp6";
  static auto sock = dgram::create_socket(v6 ? dgram::Type::udp6 : dgram::Type::udp4);
  sock->on(ev::error, [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); });
  sock->on(ev::message, [](std::string_view data, const dgram::RemoteInfo& r) {
    sock->send("pong " + std::to_string(worker().id()) + " " + std::string(data), r.port, r.address);
  });
  sock->bind(0, v6 ? "::1" : "127.0.0.1", [] { worker().send({{"port", sock->address()->port}}); });
}

namespace {

class Dgram : public testing::TestWithParam<const char*> {};

// Verifies two workers binding port 0 get the same shared port (listening events with addressType
// udp4/udp6), and every datagram sent to it is answered by one of them.
TEST_P(Dgram, SharedByTwoWorkers) {
  const std::string type = GetParam();
  const bool v6 = type == "udp6";
  constexpr int packets = 20;
  std::vector<Address> listening;
  std::set<int> ports;
  int answered = 0, sent = 0;
  std::set<std::string> responders;
  auto client = dgram::create_socket(v6 ? dgram::Type::udp6 : dgram::Type::udp4);
  int port = 0;
  auto send_next = [&] { client->send("ping " + std::to_string(sent++), port, v6 ? "::1" : "127.0.0.1"); };
  client->on(ev::message, [&](std::string_view data, const dgram::RemoteInfo& r) {
    EXPECT_EQ(r.port, port);
    EXPECT_EQ(data.substr(0, 5), "pong ");
    responders.insert(std::string(data.substr(5, 1)));
    if (++answered < packets) {
      send_next();
    } else {
      client->close();
      cluster::disconnect();
    }
  });
  int reported = 0;
  // The worker's own listen callback runs (and reports) before the cluster's listening event.
  auto maybe_start = [&] {
    if (reported == 2 && listening.size() == 2 && ports.size() == 1) {
      port = *ports.begin();
      send_next();
    }
  };
  on(ev::listening, [&](Worker&, const Address& a) {
    listening.push_back(a);
    maybe_start();
  });
  on(ev::message, [&](Worker&, const Message& m) {
    if (m.contains("error")) {
      ADD_FAILURE() << m;
      client->close();
      cluster::disconnect();
      return;
    }
    ports.insert(m["port"].get<int>());
    ++reported;
    maybe_start();
  });
  fork_role("dgram_ponger", {{"UDP_TYPE", type}});
  fork_role("dgram_ponger", {{"UDP_TYPE", type}});
  run_loop();
  EXPECT_EQ(ports.size(), 1u);
  ASSERT_EQ(listening.size(), 2u);
  for (const auto& a : listening) {
    EXPECT_EQ(a.address_type, v6 ? AddressType::udp6 : AddressType::udp4);
    EXPECT_EQ(a.address, v6 ? "::1" : "127.0.0.1");
    EXPECT_EQ(a.port, port);
  }
  EXPECT_EQ(answered, packets);
  EXPECT_FALSE(responders.empty());
}

INSTANTIATE_TEST_SUITE_P(Net, Dgram, testing::Values("udp4", "udp6"),
                         [](const testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// Verifies a datagram socket in the primary (no cluster) binds, sends to itself and closes.
TEST(DgramLocal, SendToSelf) {
  auto s = dgram::create_socket(dgram::Type::udp4);
  std::string got;
  s->on(ev::message, [&](std::string_view d, const dgram::RemoteInfo& r) {
    got = d;
    EXPECT_EQ(r.family, "IPv4");
    EXPECT_EQ(r.size, d.size());
    s->close();
  });
  s->bind(0, "127.0.0.1", [&] { s->send("hello", s->address()->port, "127.0.0.1"); });
  run_loop();
  EXPECT_EQ(got, "hello");
}

}  // namespace
