// Handle passing with net::Socket and net::Server, both directions, with and without keep_open
// (test-cluster-net-send.js, test-cluster-send-socket-to-worker-http-server.js,
// test-net-listen-handle-in-cluster-1.js).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <cstdlib>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

// Takes a socket from the primary, writes "W", and sends it back (keep_open as KEEP_OPEN says).
WORKER_ROLE(net_socket_bouncer) {
  worker().on(ev::message, [](const Message& m, Handle& h) {
    if (m.value("cmd", "") != "take" || !h) return;
    EXPECT_EQ(h.type(), HandleType::net_socket);
    auto key = h.key;
    auto s = net::Socket::from(std::move(h));
    const bool keep = std::getenv("KEEP_OPEN") != nullptr;
    s->write("W", [s, keep, key](std::error_code) {
      SendOptions o{keep};
      worker().send({{"cmd", "back"}, {"key", key ? *key : ""}}, s->to_handle(o), o, [s, keep](std::error_code ec) {
        worker().send({{"sent", !ec}, {"destroyed_after_send", s->destroyed()}});
        if (keep) s->destroy();  // our copy; the primary still has the connection
      });
    });
  });
}

// Listens on a server handle sent by the primary and answers connections itself.
WORKER_ROLE(net_server_taker) {
  worker().on(ev::message, [](const Message& m, Handle& h) {
    if (m.value("cmd", "") != "serve" || !h) return;
    static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end("served by worker\n"); });
    server->listen(std::move(h), [] { worker().send({{"listening", true}}); });
    worker().on(ev::disconnect, [] { server->close(); });
  });
}

namespace {

void round_trip(bool keep_open) {
  auto server = net::create_server();
  std::shared_ptr<net::Socket> original;
  std::string reply;
  Message worker_report;
  std::unique_ptr<net_test::ClientThreads> clients;
  bool original_closed = false;
  Env env;
  if (keep_open) env["KEEP_OPEN"] = "1";
  auto w = fork_role("net_socket_bouncer", env);
  server->on(ev::connection, [&](const std::shared_ptr<net::Socket>& s) {
    original = s;
    s->on(ev::close, [&] { original_closed = true; });
    s->write("A");
    SendOptions o{keep_open};
    w->send({{"cmd", "take"}}, s->to_handle(o), o);
    if (!keep_open) EXPECT_TRUE(s->destroyed());
  });
  w->on(ev::message, [&](const Message& m, Handle& h) {
    if (m.contains("sent")) {
      worker_report = m;
      return;
    }
    ASSERT_TRUE(h);
    EXPECT_EQ(h.type(), HandleType::net_socket);
    // Node's _connectionKey of the server the socket came from: addressType:address:port.
    EXPECT_EQ(m["key"], "4:127.0.0.1:0");
    EXPECT_EQ(h.key, std::optional<std::string>("4:127.0.0.1:0"));
    auto back = net::Socket::from(std::move(h));
    if (keep_open) {
      EXPECT_FALSE(original->destroyed());
      original->write("K");
    }
    back->end("P\n");
    server->close();
  });
  server->listen(0, "127.0.0.1", [&] {
    const int port = server->address()->port;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[port] { return net_test::request({"tcp4", port, ""}, ""); }}, 1,
                   [&](std::size_t, const std::string& r) {
                     reply = r;
                     if (original && !original->destroyed()) original->destroy();
                     w->disconnect();
                   },
                   {});
  });
  run_loop();
  EXPECT_EQ(reply, keep_open ? "AWKP\n" : "AWP\n");
  EXPECT_TRUE(original_closed);
  EXPECT_EQ(worker_report.value("sent", false), true);
  EXPECT_EQ(worker_report.value("destroyed_after_send", !keep_open), !keep_open);
}

// Verifies a socket sent primary -> worker -> primary without keep_open: each sender's copy is
// detached (closed) and the connection keeps working in the receiver.
TEST(NetSendHandle, SocketRoundTripDetaches) { round_trip(false); }

// Verifies the same round trip with keep_open: each sender can still write on its socket.
TEST(NetSendHandle, SocketRoundTripKeepOpen) { round_trip(true); }

// Verifies a listening net::Server sent to a worker arrives as a handle it can listen on.
TEST(NetSendHandle, ServerHandleToWorker) {
  auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end("served by primary\n"); });
  std::string reply;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto w = fork_role("net_server_taker");
  int port = 0;
  w->on(ev::message, [&](const Message&) {
    server->close();  // from now on only the worker accepts
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[&port] { return net_test::request({"tcp4", port, ""}, ""); }}, 1,
                   [&](std::size_t, const std::string& r) { reply = r; }, [w] { w->disconnect(); });
  });
  server->listen(0, "127.0.0.1", [&] {
    port = server->address()->port;
    Handle h = server->to_handle();
    EXPECT_EQ(h.type(), HandleType::net_server);
    w->send({{"cmd", "serve"}}, std::move(h));
  });
  run_loop();
  EXPECT_EQ(reply, "served by worker\n");
}

}  // namespace
