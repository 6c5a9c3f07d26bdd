// net::Socket and net::Server as plain sockets in one process (no workers): connect, data, end
// and close, addresses, write backpressure with drain, release_fd() to hand a connection to other
// code, and connect errors with Node's errno names.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

// Verifies a client and server exchange data, the server's end() reaches the client as end then
// close, and both ends report each other's addresses.
TEST(NetSocket, ConnectEchoEndClose) {
  std::string server_got, client_got;
  MustCall client_end(1, "client end"), client_close(1, "client close"), server_close(1, "server close");
  std::shared_ptr<net::Socket> client;
  auto server = net::create_server([&](const std::shared_ptr<net::Socket>& s) {
    net::Socket* raw = s.get();
    auto peer = raw->remote_address();
    ASSERT_TRUE(peer);
    EXPECT_EQ(peer->address, "127.0.0.1");
    EXPECT_EQ(peer->port, client->local_address()->port);
    raw->on(ev::data, [&, raw](std::string_view d) {
      server_got += d;
      if (server_got == "ping") raw->end("pong");
    });
  });
  server->listen(0, "127.0.0.1", [&] {
    client = net::Socket::connect(server->address()->port);
    EXPECT_TRUE(client->connecting());
    client->on(ev::connect, [&] {
      EXPECT_EQ(client->remote_address()->port, server->address()->port);
      client->write("ping");
    });
    client->on(ev::data, [&](std::string_view d) { client_got += d; });
    client->on(ev::end, [&] { client_end(); });
    client->on(ev::close, [&](bool had_error) {
      client_close();
      EXPECT_FALSE(had_error);
      server->close([&](std::error_code ec) {
        EXPECT_FALSE(ec);
        server_close();
      });
    });
  });
  run_loop();
  EXPECT_EQ(server_got, "ping");
  EXPECT_EQ(client_got, "pong");
}

// Verifies write() returns false past the high-water mark while the peer does not read, and drain
// follows once the queue empties; nothing is lost.
TEST(NetSocket, BackpressureAndDrain) {
  const std::string chunk(64 * 1024, 'x');
  std::size_t written = 0, received = 0;
  bool saw_false = false;
  MustCall drained(1, "drain");
  std::shared_ptr<net::Socket> client;
  auto server = net::create_server([&](const std::shared_ptr<net::Socket>& s) {
    net::Socket* raw = s.get();
    while (raw->write(chunk)) written += chunk.size();
    written += chunk.size();
    saw_false = true;
    EXPECT_GE(raw->write_queue_size(), net::Socket::high_water_mark);
    raw->on(ev::drain, [&, raw] {
      drained();
      EXPECT_EQ(raw->write_queue_size(), 0u);
      raw->end();
    });
    client->resume();
  });
  server->listen(0, "127.0.0.1", [&] {
    client = net::Socket::connect(server->address()->port);
    client->pause();
    client->on(ev::data, [&](std::string_view d) { received += d.size(); });
    client->on(ev::close, [&] { server->close(); });
  });
  run_loop();
  EXPECT_TRUE(saw_false);
  EXPECT_EQ(received, written);
}

// Verifies release_fd() hands the connection to other code: the descriptor works with plain
// system calls on another thread, and the Socket reports close (no error) and no longer counts.
TEST(NetSocket, ReleaseFdHandsTheConnectionOver) {
  std::thread other;
  std::string reply;
  MustCall closed(1, "close after release");
  std::unique_ptr<net_test::ClientThreads> clients;
  auto server = net::create_server([&](const std::shared_ptr<net::Socket>& s) {
    s->on(ev::close, [&](bool had_error) {
      closed();
      EXPECT_FALSE(had_error);
    });
    int fd = s->release_fd();
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(s->destroyed());
    EXPECT_EQ(s->release_fd(), -1);
    // "Another framework": a thread with blocking calls.
    other = std::thread([fd] {
      int flags = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      char buf[16];
      ssize_t n = ::read(fd, buf, sizeof buf);
      std::string out = "other framework got " + std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      (void)!::write(fd, out.data(), out.size());
      ::close(fd);
    });
  });
  server->listen(0, "127.0.0.1", [&] {
    const int port = server->address()->port;
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[port] { return net_test::request({"tcp4", port, ""}, "hi"); }}, 1,
                   [&](std::size_t, const std::string& r) { reply = r; }, [&] {
                     EXPECT_EQ(server->connections(), 0u);
                     server->close();
                   });
  });
  run_loop();
  other.join();
  EXPECT_EQ(reply, "other framework got hi");
}

// Verifies on_descriptor(): 16 connections to a listening server arrive as raw descriptors
// (non-blocking, close-on-exec, the listening address's kind, an empty OpenConnection) with no
// connection event; each is
// answered on its descriptor; on_descriptor() once listening throws; close() still ends the server.
TEST(NetSocket, OnDescriptorHandsRawConnections) {
  constexpr int n = 16;
  int given = 0;
  int events = 0;
  int answered = 0;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto server = net::create_server([&](const std::shared_ptr<net::Socket>&) { ++events; });
  server->on_descriptor([&](int fd, AddressType type, net::OpenConnection open) {
    ++given;
    EXPECT_EQ(type, AddressType::tcp4);
    EXPECT_FALSE(open.counted());  // accepted here, in a primary: nobody counts it
    EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    const std::string out = "raw " + std::to_string(given);
    (void)!::write(fd, out.data(), out.size());  // a fresh socket's buffer takes a few bytes
    ::close(fd);
  });
  server->listen(0, "127.0.0.1", [&] {
    EXPECT_THROW(server->on_descriptor({}), std::logic_error);
    const int port = server->address()->port;
    std::vector<net_test::ClientThreads::Job> jobs(n, [port] { return net_test::request({"tcp4", port, ""}, ""); });
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start(jobs, 8, [&](std::size_t, const std::string& r) { answered += r.rfind("raw ", 0) == 0; },
                   [&] { server->close(); });
  });
  run_loop();
  EXPECT_EQ(given, n);
  EXPECT_EQ(answered, n);
  EXPECT_EQ(events, 0);
  EXPECT_FALSE(server->listening());
}

// Verifies a refused connection and a missing Unix socket give ECONNREFUSED and ENOENT.
TEST(NetSocket, ConnectErrorsHaveErrnoNames) {
  net_test::TempDir dir;
  std::vector<std::string> errors;
  int port = 0;
  {
    auto probe = net::create_server();
    probe->listen(0, "127.0.0.1", [&] {
      port = probe->address()->port;
      probe->close();
    });
    run_loop();
  }
  for (auto s : {net::Socket::connect(port), net::Socket::connect({0, "", dir.path() + "/nothing"})}) {
    s->on(ev::error, [&](const std::system_error& e) { errors.push_back(err_name(e.code())); });
    s->on(ev::close, [](bool had_error) { EXPECT_TRUE(had_error); });
  }
  run_loop();
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (std::vector<std::string>{"ECONNREFUSED", "ENOENT"}));
}

// Verifies a Unix socket server in a plain process removes its socket file on close.
TEST(NetSocket, UnixServerRemovesItsPath) {
  net_test::TempDir dir;
  const std::string path = dir.path() + "/s.sock";
  std::string reply;
  std::unique_ptr<net_test::ClientThreads> clients;
  auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end("unix\n"); });
  net::ListenOptions o;
  o.path = path;
  server->listen(o, [&] {
    EXPECT_EQ(server->address()->address, path);
    EXPECT_EQ(server->address()->address_type, AddressType::unix_socket);
    EXPECT_EQ(access(path.c_str(), F_OK), 0);
    clients = std::make_unique<net_test::ClientThreads>();
    clients->start({[path] { return net_test::request({"unix", 0, path}, ""); }}, 1,
                   [&](std::size_t, const std::string& r) { reply = r; }, [&] { server->close(); });
  });
  run_loop();
  EXPECT_EQ(reply, "unix\n");
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

}  // namespace
