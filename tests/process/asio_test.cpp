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
#include <cluster/scheduler.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <vector>

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
  explicit Exchange(tcp::socket s, net::OpenConnection o = {}) : stream(std::move(s)), open(std::move(o)) {}
  beast::tcp_stream stream;
  net::OpenConnection open;  // counted open by the primary while the exchange lives
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
  } else if (path && std::string(path) == "accept_into_counted") {
    cluster::asio::accept_into(io(), *server, [](tcp::socket s, net::OpenConnection open) {
      std::make_shared<Exchange>(std::move(s), std::move(open))->next();
    });
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

namespace {

// Sums connection_stats().open over the workers; -1 when a worker does not report.
long long open_connections() {
  long long sum = 0;
  for (auto& [id, w] : workers()) {
    auto open = connection_stats(*w).open;
    if (!open) return -1;
    sum += static_cast<long long>(*open);
  }
  return sum;
}

}  // namespace

// Verifies that a handler taking a net::OpenConnection keeps round-robin connections counted open
// by the primary while its sessions live: 6 keep-alive connections, each answered once and held,
// count 6 over the two workers; once the client closes them, the sessions end and the count goes
// back to 0. (With the one-argument handler they would count 0 at once.)
TEST(Asio, OpenConnectionsStayCountedWhileSessionsLive) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int n = 6;
  std::mutex mu;
  std::vector<int> held;  // the client's connections, answered and kept open
  std::unique_ptr<net_test::ClientThreads> clients;
  long long counted_while_open = -2, counted_after_close = -2;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::function<void()> wait_closed = [&] {
    counted_after_close = open_connections();
    if (counted_after_close != 0 && std::chrono::steady_clock::now() < deadline) return after(20, wait_closed);
    cluster::disconnect();
  };
  std::function<void()> wait_open = [&] {
    counted_while_open = open_connections();
    if (counted_while_open != n && std::chrono::steady_clock::now() < deadline) return after(20, wait_open);
    for (int fd : held) ::close(fd);
    after(20, wait_closed);
  };
  int listening = 0;
  on(ev::listening, [&](Worker&, const Address& a) {
    if (++listening != 2) return;
    std::vector<net_test::ClientThreads::Job> jobs(n, [&, port = a.port]() -> std::string {
      const int fd = net_test::connect_to({"tcp4", port, ""});
      if (fd < 0) return "<connect error>";
      const std::string req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return "<send error>";
      }
      std::string got;
      char buf[512];
      while (got.find("pid:") == std::string::npos) {  // the answer's body: the whole response is small
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        got.append(buf, static_cast<std::size_t>(r));
      }
      std::lock_guard<std::mutex> lock(mu);
      held.push_back(fd);
      return got.find("pid:") != std::string::npos ? "answered" : "<no answer>";
    });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(jobs, n, [](std::size_t, const std::string& r) { EXPECT_EQ(r, "answered"); },
                   [&] { after(20, wait_open); });
  });
  fork_role("asio_beast_worker", {{"ASIO_PATH", "accept_into_counted"}});
  fork_role("asio_beast_worker", {{"ASIO_PATH", "accept_into_counted"}});
  run_loop(60s);
  events().remove_all_listeners();
  EXPECT_EQ(counted_while_open, n);
  EXPECT_EQ(counted_after_close, 0);
}
