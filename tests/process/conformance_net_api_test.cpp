// Node's net details a cluster program meets: Unix socket modes for readableAll/writableAll
// (test-cluster-listen-pipe-readable-writable.js), a socket handle a message listener does not
// take, listen errors with syscall/address/port (test-cluster-eaddrinuse.js), and ref()/unref()
// of servers and sockets (test-cluster-rr-ref.js, -rr-handle-ref-unref.js, -rr-handle-close.js,
// -rr-handle-keep-loop-alive.js).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

namespace {

int file_mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

}  // namespace

// Listens on DIR/s0..s3 with each (readable_all, writable_all) pair; reports the modes.
WORKER_ROLE(conf_pipe_modes) {
  static std::vector<std::shared_ptr<net::Server>> servers;
  static Message modes = Message::array();
  static std::function<void(int)> next = [](int i) {
    if (i == 4) {
      worker().send({{"modes", modes}});
      return;
    }
    auto s = net::create_server();
    servers.push_back(s);
    net::ListenOptions o;
    o.path = std::string(std::getenv("DIR")) + "/s" + std::to_string(i);
    o.readable_all = (i & 1) != 0;
    o.writable_all = (i & 2) != 0;
    s->on(ev::error, [](const std::system_error& e) { worker().send({{"error", e.what()}}); });
    s->listen(o, [i, path = o.path] {
      modes.push_back(file_mode(path));
      next(i + 1);
    });
  };
  next(0);
}

// Receives a socket handle and, when TAKE is set, keeps it and writes "kept" on it.
WORKER_ROLE(conf_socket_receiver) {
  static std::shared_ptr<net::Socket> kept;
  worker().on(ev::message, [](const Message&, Handle& h) {
    if (std::getenv("TAKE")) {
      kept = net::Socket::from(std::move(h));
      kept->end("kept");
    }
    worker().send("got");
  });
}

// Listens on PORT (held by the primary) and reports the error's fields.
WORKER_ROLE(conf_listen_error_fields) {
  static auto server = net::create_server();
  server->on(ev::error, [](const std::system_error& e) {
    const SystemError* se = system_error_of(e);
    Message m = {{"code", err_name(e.code())}, {"has_fields", se != nullptr}};
    if (se) {
      m["syscall"] = se->syscall();
      m["address"] = se->address() ? Message(*se->address()) : Message();
      m["port"] = se->port() ? Message(*se->port()) : Message();
    }
    worker().send(m);
  });
  net::ListenOptions o;
  o.port = std::atoi(std::getenv("PORT"));
  if (std::getenv("HOST")) o.host = std::getenv("HOST");
  server->listen(o);
}

// Node's test-cluster-rr-ref.js: unref, ref, then close; reports once closed.
WORKER_ROLE(conf_rr_ref_close) {
  static auto server = net::create_server();
  server->listen(0, [] {
    server->unref();
    server->ref();
    server->close([](std::error_code) { worker().send("done"); });
  });
}

// Node's test-cluster-rr-handle-ref-unref.js: an unref'd server and channel let the worker end.
WORKER_ROLE(conf_rr_unref_all) {
  static auto server = net::create_server();
  server->listen(0, [] {
    server->ref();
    server->unref();
    worker().channel().unref();
  });
  server->unref();
}

// Node's test-cluster-rr-handle-close.js: close() plus an unref'd channel let the worker end.
WORKER_ROLE(conf_rr_close_unref_channel) {
  static auto server = net::create_server();
  server->listen(0, [] {
    worker().channel().unref();
    server->close();
  });
}

// Node's test-cluster-rr-handle-keep-loop-alive.js: a listening server keeps the worker alive
// although the channel is unref'd; it answers a ping to show it.
WORKER_ROLE(conf_rr_server_keeps_alive) {
  static auto server = net::create_server();
  server->listen(0, [] {
    worker().channel().unref();
    worker().send("ready");
  });
  worker().on(ev::message, [](const Message& m) {
    if (m == "ping") worker().send("pong");
  });
}

namespace {

// Verifies readable_all/writable_all add their bits to the socket file's mode as Node's
// uv_pipe_chmod does (umask 022: 0755, 0755, 0777, 0777); under sched_none nobody changes the
// mode, as in Node (0755 for all) (Node: test-cluster-listen-pipe-readable-writable.js).
void expect_pipe_modes(int policy, const Message& expected) {
  if (!net_test::use_policy(policy)) GTEST_SKIP() << "the policy is frozen in this process";
  ::umask(022);
  net_test::TempDir dir;
  Message got;
  auto w = fork_role("conf_pipe_modes", {{"DIR", dir.path()}});
  w->on(ev::message, [&, w](const Message& m) {
    got = m;
    w->disconnect();
  });
  run_loop();
  EXPECT_EQ(got, Message({{"modes", expected}}));
}

TEST(ConformanceNetApi, PipeModesAddBitsUnderRoundRobin) {
  expect_pipe_modes(sched_rr, Message::array({0755, 0755, 0777, 0777}));
}

TEST(ConformanceNetApi, PipeModesUntouchedUnderSchedNone) {
  expect_pipe_modes(sched_none, Message::array({0755, 0755, 0755, 0755}));
}

// Verifies the same bits in a plain (primary) server, listening on its own.
TEST(ConformanceNetApi, PipeModesAddBitsInPrimary) {
  ::umask(022);
  net_test::TempDir dir;
  std::vector<int> modes;
  std::vector<std::shared_ptr<net::Server>> servers;
  for (int i = 0; i < 4; ++i) {
    auto s = net::create_server();
    servers.push_back(s);
    net::ListenOptions o;
    o.path = dir.path() + "/p" + std::to_string(i);
    o.readable_all = (i & 1) != 0;
    o.writable_all = (i & 2) != 0;
    s->listen(o, [&, s, path = o.path] {
      modes.push_back(file_mode(path));
      s->close();
    });
  }
  run_loop();
  EXPECT_EQ(modes, (std::vector<int>{0755, 0755, 0777, 0777}));
}

// Sends one end of a socketpair to the worker; returns what the primary's end read before EOF.
std::string send_socket_and_read(bool take) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto mine = net::Socket::from(Handle::adopt(sv[0], HandleType::net_socket));
  std::string read;
  bool ended = false;
  Env env;
  if (take) env["TAKE"] = "1";
  auto w = fork_role("conf_socket_receiver", env);
  mine->on(ev::data, [&](std::string_view d) { read += d; });
  mine->on(ev::end, [&, w] {
    ended = true;
    mine->end();
    w->disconnect();
  });
  w->send("here", Handle::adopt(sv[1], HandleType::net_socket));
  run_loop();
  EXPECT_TRUE(ended);
  return read;
}

// Verifies a socket handle the worker's message listener does not take is closed once the
// listeners have run: the peer sees the end at once (a C++ Handle is owned; Node would keep an
// untaken net.Socket open until the peer ends it).
TEST(ConformanceNetApi, UntakenSocketHandleIsClosed) { EXPECT_EQ(send_socket_and_read(false), ""); }

// Verifies a socket handle the listener takes stays open and usable.
TEST(ConformanceNetApi, TakenSocketHandleStaysOpen) { EXPECT_EQ(send_socket_and_read(true), "kept"); }

// Verifies a worker's listen error carries Node's fields: code EADDRINUSE, syscall "bind",
// address (null when none was given) and port (Node: test-cluster-eaddrinuse.js,
// test-cluster-bind-twice.js).
void expect_listen_error_fields(const char* host, const Message& address) {
  auto holder = net::create_server();
  Message got;
  int port = 0;
  holder->listen(0, [&] {
    port = holder->address()->port;
    Env env{{"PORT", std::to_string(port)}};
    if (host) env["HOST"] = host;
    auto w = fork_role("conf_listen_error_fields", env);
    w->on(ev::message, [&, w](const Message& m) {
      got = m;
      w->disconnect();
      holder->close();
    });
  });
  run_loop();
  EXPECT_EQ(got, Message({{"code", "EADDRINUSE"},
                          {"has_fields", true},
                          {"syscall", "bind"},
                          {"address", address},
                          {"port", port}}));
}

TEST(ConformanceNetApi, WorkerListenErrorHasSyscallAddressPort) { expect_listen_error_fields("127.0.0.1", "127.0.0.1"); }

TEST(ConformanceNetApi, WorkerListenErrorWithoutHostHasNullAddress) { expect_listen_error_fields(nullptr, Message()); }

// Verifies a listen error of a server of this process is syscall "listen" with the address tried
// (:: when none was given) and the port, as Node's.
TEST(ConformanceNetApi, LocalListenErrorHasSyscallAddressPort) {
  auto holder = net::create_server();
  auto second = net::create_server();
  Message got;
  int port = 0;
  second->on(ev::error, [&](const std::system_error& e) {
    const SystemError* se = system_error_of(e);
    ASSERT_NE(se, nullptr);
    got = {{"code", err_name(e.code())}, {"syscall", se->syscall()}, {"address", se->address().value_or("")},
           {"port", se->port().value_or(0)}};
    holder->close();
  });
  holder->listen(0, [&] {
    port = holder->address()->port;
    second->listen(port);
  });
  run_loop();
  EXPECT_EQ(got, Message({{"code", "EADDRINUSE"}, {"syscall", "listen"}, {"address", "::"}, {"port", port}}));
}

// Verifies unref(), ref() and close() of a round-robin server in a worker (Node:
// test-cluster-rr-ref.js).
TEST(ConformanceNetApi, RoundRobinServerRefUnrefThenClose) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall done(1, "done");
  auto w = fork_role("conf_rr_ref_close");
  w->on(ev::message, [&, w](const Message& m) {
    if (m == "done") {
      done();
      w->kill();
    }
  });
  run_loop();
}

// Verifies an unref'd round-robin server and channel let the worker exit by itself (Node:
// test-cluster-rr-handle-ref-unref.js), and so does a closed server (test-cluster-rr-handle-close.js).
TEST(ConformanceNetApi, UnrefdServerAndChannelLetWorkerExit) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall exits(2, "exit");
  for (const char* role : {"conf_rr_unref_all", "conf_rr_close_unref_channel"}) {
    auto w = fork_role(role);
    w->on(ev::exit, [&, role](int code, std::string_view sig) {
      exits();
      EXPECT_EQ(code, 0) << role;
      EXPECT_EQ(sig, "") << role;
    });
  }
  run_loop();
}

// Verifies a listening round-robin server keeps the worker alive with its channel unref'd
// (Node: test-cluster-rr-handle-keep-loop-alive.js).
TEST(ConformanceNetApi, ListeningServerKeepsWorkerAlive) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall pong(1, "pong");
  bool exited = false;
  auto w = fork_role("conf_rr_server_keeps_alive");
  w->on(ev::message, [&, w](const Message& m) {
    if (m == "ready") w->send("ping");
    if (m == "pong") {
      pong();
      EXPECT_FALSE(exited);
      w->kill();
    }
  });
  w->on(ev::exit, [&] { exited = true; });
  run_loop();
}

// Verifies an unref'd socket does not keep the loop alive, and ref() makes it do so again
// (Node's socket.unref()/ref()).
TEST(ConformanceNetApi, SocketUnrefDropsLoopReference) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto a = net::Socket::from(Handle::adopt(sv[0], HandleType::net_socket));
  const unsigned before = cluster::loop()->active_handles;
  a->unref();
  EXPECT_EQ(cluster::loop()->active_handles, before - 1);
  a->ref();
  EXPECT_EQ(cluster::loop()->active_handles, before);
  a->unref();
  run_loop();  // the unref'd socket alone: the loop ends at once, the socket still open
  EXPECT_FALSE(a->destroyed());
  a->destroy();
  ::close(sv[1]);
  run_loop();
}

}  // namespace
