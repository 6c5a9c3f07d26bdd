// cluster/asio.hpp with Boost.Asio: workers that run Boost.Beast and the cluster on one thread
// (cluster::asio::run), serving round-robin connections as Asio sockets under load, answering
// the primary's messages, and exiting cleanly on the primary's disconnect. Standalone Asio,
// timers and signals: asio_standalone_test.cpp. (No Node test: Node has no second event loop
// to share a thread with.)
#define CPPCLUSTER_ASIO_BOOST 1
#include <cluster/asio.hpp>

#include "net_test_client.hpp"
#include "pool_support.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <csignal>
#include <cstdlib>
#include <string>
#include <map>
#include <set>

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

boost::asio::io_context& io() {
  static boost::asio::io_context c{1};
  return c;
}

int served = 0;  // responses written by this worker

// One connection: answers each request with the worker's pid until the client closes.
struct Exchange : std::enable_shared_from_this<Exchange> {
  explicit Exchange(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  http::response<http::string_body> res;

  void next() {
    req = {};
    http::async_read(stream, buffer, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->res = {http::status::ok, self->req.version()};
      self->res.body() = "pid:" + std::to_string(getpid()) + "\n";
      self->res.keep_alive(self->req.keep_alive());
      self->res.prepare_payload();
      http::async_write(self->stream, self->res, [self](beast::error_code ec, std::size_t) {
        ++served;
        if (!ec && self->res.keep_alive()) self->next();
      });
    });
  }
};

}  // namespace

// Serves HTTP with Beast on the connections the primary hands over, taken with
// cluster::asio::accept_into (ASIO_PATH=accept_into) or cluster::asio::adopt from a connection
// event (otherwise); answers {cmd: "count"} with {served: n}. Exits once disconnected and every
// connection has ended.
WORKER_ROLE(asio_beast_worker) {
  static auto server = net::create_server();
  const char* path = std::getenv("ASIO_PATH");
  if (path && std::string(path) == "accept_into") {
    cluster::asio::accept_into(io(), *server, [](tcp::socket s) { std::make_shared<Exchange>(std::move(s))->next(); });
  } else {
    server->on(ev::connection, [](const std::shared_ptr<net::Socket>& s) {
      std::make_shared<Exchange>(cluster::asio::adopt(io(), *s))->next();
    });
  }
  worker().on(ev::message, [](const Message& m, Handle&) {
    if (m.value("cmd", "") == "count") worker().send({{"served", served}});
  });
  server->listen(0, "127.0.0.1");
  cluster::asio::run(io());
}

namespace {

// Two asio_beast_worker workers (ASIO_PATH=path) under 16 clients with a new connection per
// request: every outcome counted and none failed, both workers serving (their own counts, asked
// by message, add up to the answered requests), and both exit 0 after the primary's disconnect.
void beast_workers_serve(const std::string& path) {
  constexpr std::uint64_t target = 1500;
  std::unique_ptr<storm::Client> client;
  storm::Counts counts;
  std::map<int, int> served_by;  // worker id → responses
  std::map<int, int> exit_codes;
  int listening = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::function<void()> watch = [&] {
    const bool enough = client->counts().total() >= target || std::chrono::steady_clock::now() > deadline;
    if (!enough) return after(20, watch);
    pool_test::stop_client(*client, [&](const storm::Counts& c) {
      counts = c;
      for (auto& [id, w] : workers()) w->send({{"cmd", "count"}});
    });
  };
  on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    client = std::make_unique<storm::Client>(a.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                             "pid:", 16);
    client->start();
    after(20, watch);
  });
  on(ev::message, [&](Worker& w, const Message& m, Handle&) {
    served_by[w.id()] = m.value("served", -1);
    if (served_by.size() == 2) cluster::disconnect();
  });
  on(ev::exit, [&](Worker& w, int code, std::string_view signal) {
    exit_codes[w.id()] = signal.empty() ? code : -1;
  });
  fork_role("asio_beast_worker", {{"ASIO_PATH", path}});
  fork_role("asio_beast_worker", {{"ASIO_PATH", path}});
  run_loop(60s);
  events().remove_all_listeners();
  std::printf("[ load     ] %s, by worker:", counts.summary().c_str());
  for (auto& [id, n] : served_by) std::printf(" %d=%d", id, n);
  std::printf("\n");
  EXPECT_GE(counts.total(), target) << "the load did not reach its count within 30 s";
  EXPECT_EQ(counts.failed(), 0u) << counts.summary();
  ASSERT_EQ(served_by.size(), 2u);
  int sum = 0;
  for (auto& [id, n] : served_by) {
    EXPECT_GT(n, 0) << "worker " << id << " served nothing";
    sum += n;
  }
  EXPECT_EQ(static_cast<std::uint64_t>(sum), counts[storm::Outcome::ok]);
  ASSERT_EQ(exit_codes.size(), 2u);
  for (auto& [id, code] : exit_codes) EXPECT_EQ(code, 0) << "worker " << id << " (-1: killed by a signal)";
}

}  // namespace

// Verifies that round-robin connections reach Beast through cluster::asio::adopt (a Socket from
// the connection event, released into a tcp::socket).
TEST(Asio, BeastWorkersServeRoundRobinConnections) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  beast_workers_serve("adopt");
}

// Verifies that cluster::asio::accept_into (raw descriptors, no Socket) serves every connection
// under each policy: round robin (descriptors from the primary), sched_reuseport and sched_none
// (the worker accepts from its own listening socket with accept4).
class AsioAcceptInto : public ::testing::TestWithParam<int> {};

TEST_P(AsioAcceptInto, BeastWorkersServeEveryConnection) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  beast_workers_serve("accept_into");
}

INSTANTIATE_TEST_SUITE_P(Policies, AsioAcceptInto, ::testing::Values(sched_rr, sched_reuseport, sched_none),
                         [](const auto& info) {
                           return info.param == sched_rr ? std::string("rr")
                                  : info.param == sched_reuseport ? std::string("reuseport")
                                                                  : std::string("none");
                         });
