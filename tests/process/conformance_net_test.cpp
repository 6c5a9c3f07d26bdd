// Ports of Node 20's server-sharing, dgram and handle-passing tests not covered elsewhere.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/dgram.hpp>
#include <cluster/net.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

using namespace cluster;
using namespace testing_support;

namespace {

const std::string long_name(84, 'A');  // with its directory, an absolute path past sun_path

void report_error(const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); }

}  // namespace

WORKER_ROLE(cn_relative_path) {
  if (chdir("unix-socket-dir") != 0) std::exit(5);
  static auto s = net::create_server();
  s->on(ev::error, report_error);
  s->listen(net::ListenOptions{.path = long_name}, [] {
    worker().send({{"exists", access(long_name.c_str(), F_OK) == 0}});
  });
}

WORKER_ROLE(cn_end_bye) {
  static auto s = net::create_server([](const std::shared_ptr<net::Socket>& c) { c->end("bye"); });
  s->listen(0);
}

WORKER_ROLE(cn_listen_host) {
  static auto s = net::create_server([](const std::shared_ptr<net::Socket>& c) { c->end("hi"); });
  s->on(ev::error, report_error);
  net::ListenOptions o{.port = std::atoi(std::getenv("PORT")), .host = std::getenv("HOST")};
  o.ipv6_only = std::getenv("V6ONLY") != nullptr;
  s->listen(o, [] { worker().send({{"port", s->address()->port}}); });
}

// Node's test-cluster-child-index-dgram.js: twice, bind 0, close, bind 0 again, close.
WORKER_ROLE(cn_dgram_index) {
  static int left = 4;
  auto done = [] {
    if (--left == 0) worker().disconnect();
  };
  for (int i = 0; i < 2; ++i) {
    auto s = dgram::create_socket(dgram::Type::udp4);
    s->on(ev::error, report_error);
    s->bind(0, [s, done] {
      s->close(done);
      auto s2 = dgram::create_socket(dgram::Type::udp4);
      s2->bind(0, [s2, done] { s2->close(done); });
    });
  }
}

WORKER_ROLE(cn_dgram_bind_fd) {
  static auto s = dgram::create_socket(dgram::Type::udp4);
  s->on(ev::error, report_error);
  s->on(ev::message, [](std::string_view d, const dgram::RemoteInfo&) { worker().send({{"got", std::string(d)}}); });
  s->bind(dgram::BindOptions{.fd = std::atoi(std::getenv("FD"))}, [] { worker().send({{"port", s->address()->port}}); });
}

// udp6 with ipv6_only, then udp4 on the same port (Node: test-cluster-dgram-ipv6only.js).
WORKER_ROLE(cn_dgram_ipv6only) {
  static auto s6 = dgram::create_socket(dgram::Type::udp6);
  static auto s4 = dgram::create_socket(dgram::Type::udp4);
  s6->on(ev::error, report_error);
  s4->on(ev::error, report_error);
  s6->bind(dgram::BindOptions{.port = 0, .address = "::", .ipv6_only = true}, [] {
    s4->bind(s6->address()->port, "0.0.0.0", [] {
      worker().send({{"same", s4->address()->port == s6->address()->port}});
      worker().disconnect();
    });
  });
}

WORKER_ROLE(cn_dgram_reuse) {
  static auto a = dgram::create_socket(dgram::Type::udp4);
  static auto b = dgram::create_socket(dgram::Type::udp4);
  a->on(ev::error, report_error);
  b->on(ev::error, report_error);
  a->bind(dgram::BindOptions{.reuse_addr = true}, [] {
    b->bind(dgram::BindOptions{.port = a->address()->port, .reuse_addr = true}, [] {
      worker().send({{"same", a->address()->port == b->address()->port}});
      worker().disconnect();
    });
  });
}

// Closed before the primary's answer: no listening, no error; the handle it then gets is closed.
WORKER_ROLE(cn_dgram_close_during_bind) {
  auto s = dgram::create_socket(dgram::Type::udp4);
  s->on(ev::error, report_error);
  s->on(ev::listening, [] { worker().send("listening"); });
  s->bind(0);
  s->close([] { worker().send("closed"); });
}

WORKER_ROLE(cn_dgram_close_in_listening) {
  auto s = dgram::create_socket(dgram::Type::udp4);
  s->on(ev::error, report_error);
  s->bind(0, [s] { s->close([] { worker().disconnect(); }); });
}

// An unref'd socket does not count among the loop's active handles (ref() adds it back).
WORKER_ROLE(cn_dgram_unref) {
  static auto s = dgram::create_socket(dgram::Type::udp4);
  s->unref();
  s->bind(0, [] {
    const unsigned before = cluster::loop()->active_handles;
    s->ref();
    worker().send({{"counted_once_reffed", cluster::loop()->active_handles == before + 1}});
    s->close();
    worker().disconnect();
  });
}

WORKER_ROLE(cn_dgram_bind_taken) {
  static auto s = dgram::create_socket(dgram::Type::udp4);
  s->on(ev::error, [](const std::system_error& e) {
    const SystemError* se = system_error_of(e);
    worker().send({{"error", err_name(e.code())}, {"syscall", se ? se->syscall() : ""}});
  });
  s->bind(std::atoi(std::getenv("PORT")), "127.0.0.1");
}

WORKER_ROLE(cn_listen_path) {
  static auto s = net::create_server();
  s->on(ev::error, report_error);
  s->listen(net::ListenOptions{.path = std::getenv("SOCK")}, [] { worker().send("listening"); });
}

// Sends the same socket twice: the second send has no handle left (Node: send-handle-twice).
WORKER_ROLE(cn_send_socket_twice) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::exit(5);
  ::close(sv[1]);
  auto s = net::Socket::from(Handle::adopt(sv[0], HandleType::net_socket));
  worker().send("one", s->to_handle());
  worker().send("two", s->to_handle());
}

// Echoes every message with its handle (Node: send-handle-large-payload, send-deadlock).
WORKER_ROLE(cn_echo_handles) {
  worker().on(ev::message, [](const Message& m, Handle& h) {
    if (h) {
      worker().send(m, std::move(h));
    } else {
      worker().send(m);
    }
  });
}

namespace {

// Verifies a Unix socket path given relative to a worker's cwd, too long once absolute, is bound
// (relative to the primary's cwd, as Node does), exists in the worker's cwd and is removed after
// (Node: test-cluster-net-listen-relative-path.js).
TEST(ConformanceNet, RelativeUnixPathTooLongWhenAbsolute) {
  net_test::TempDir dir;
  char old[4096];
  ASSERT_NE(getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  ASSERT_EQ(mkdir("unix-socket-dir", 0755), 0);
  const std::string abs = dir.path() + "/unix-socket-dir/" + long_name;
  ASSERT_GT(abs.size(), 108u);
  Message got;
  MustCall exits(1, "exit");
  auto w = fork_role("cn_relative_path", {});
  w->on(ev::message, [&, w](const Message& m) {
    got = m;
    w->disconnect();
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_NE(access(abs.c_str(), F_OK), 0) << "the socket is removed";
  });
  run_loop();
  EXPECT_EQ(got, Message({{"exists", true}}));
  EXPECT_EQ(chdir(old), 0);
}

// Verifies two sched_none workers disconnected while a client holds a connection both exit 0
// with no leak reported (Node: test-cluster-shared-leak.js).
TEST(ConformanceNet, SharedHandleDisconnectWithOpenConnection) {
  if (!net_test::use_policy(sched_none)) GTEST_SKIP() << "the policy is frozen in this process";
  std::shared_ptr<net::Socket> conn;
  set_error_hook([](const std::system_error& e, Worker*) { ADD_FAILURE() << e.what(); });
  MustCall exits(2, "exit");
  auto w1 = fork_role("cn_end_bye");
  w1->on(ev::listening, [&, w1](const Address& a) {
    auto w2 = fork_role("cn_end_bye");
    w2->on(ev::online, [&, w1, w2, port = a.port] {
      conn = net::Socket::connect(port);
      conn->on(ev::error, [](const std::system_error& e) { EXPECT_EQ(err_name(e.code()), "ECONNRESET"); });
      conn->on(ev::connect, [w1, w2] {
        w1->disconnect();
        w2->disconnect();
      });
    });
  });
  on(ev::exit, [&](Worker&, int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
    if (workers().empty()) conn->destroy();
  });
  run_loop();
}

// Verifies workers listening on :: (no ipv6_only) serve IPv4 and IPv6 clients on one port
// (Node: test-cluster-net-listen-ipv6only-false.js).
TEST(ConformanceNet, DualStackAcrossWorkers) {
  std::string v4, v6;
  std::unique_ptr<net_test::ClientThreads> clients;
  int ready = 0, port = 0;
  std::vector<std::shared_ptr<Worker>> ws;
  for (int i = 0; i < 2; ++i) {
    auto w = fork_role("cn_listen_host", {{"PORT", "0"}, {"HOST", "::"}});
    ws.push_back(w);
    w->on(ev::message, [&](const Message& m) {
      ASSERT_TRUE(m.contains("port")) << m.dump();
      port = m["port"];
      if (++ready < 2) return;
      clients = std::make_unique<net_test::ClientThreads>();
      clients->start({[&] { return net_test::request({"tcp4", port, ""}, ""); },
                      [&] { return net_test::request({"tcp6", port, ""}, ""); }},
                     2, nullptr, [&] {
                       v4 = clients->results()[0];
                       v6 = clients->results()[1];
                       cluster::disconnect();
                     });
    });
  }
  run_loop();
  EXPECT_EQ(v4, "hi");
  EXPECT_EQ(v6, "hi");
}

// Verifies ipv6_only reaches the socket under both policies: the IPv4 port stays free for the
// primary (Node: sequential/test-cluster-net-listen-ipv6only-none.js, -rr.js).
void ipv6_only(int policy) {
  if (!net_test::use_policy(policy)) GTEST_SKIP() << "the policy is frozen in this process";
  auto v4 = net::create_server();
  bool v4_listening = false;
  auto w = fork_role("cn_listen_host", {{"PORT", "0"}, {"HOST", "::"}, {"V6ONLY", "1"}});
  w->on(ev::message, [&, w](const Message& m) {
    ASSERT_TRUE(m.contains("port")) << m.dump();
    v4->on(ev::error, [&, w](const std::system_error& e) {
      ADD_FAILURE() << e.what();
      w->disconnect();
    });
    v4->listen(m["port"].get<int>(), "0.0.0.0", [&, w] {
      v4_listening = true;
      v4->close();
      w->disconnect();
    });
  });
  run_loop();
  EXPECT_TRUE(v4_listening);
}

TEST(ConformanceNet, Ipv6OnlyRoundRobin) { ipv6_only(sched_rr); }
TEST(ConformanceNet, Ipv6OnlySchedNone) { ipv6_only(sched_none); }

// Runs role in one worker, collects its messages, and expects exit 0.
std::vector<Message> run_role(const std::string& role, Env env = {}) {
  std::vector<Message> got;
  MustCall exits(1, "exit " + role);
  auto w = fork_role(role, std::move(env));
  w->on(ev::message, [&](const Message& m) { got.push_back(m); });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0) << role;
  });
  run_loop();
  return got;
}

// Verifies repeated bind(0)/close/bind(0) of UDP sockets in one worker (Node:
// test-cluster-child-index-dgram.js).
TEST(ConformanceNet, DgramRebindAfterClose) { EXPECT_TRUE(run_role("cn_dgram_index").empty()); }

// Verifies udp6 with ipv6_only and udp4 share a port number (Node: test-cluster-dgram-ipv6only.js).
TEST(ConformanceNet, DgramIpv6OnlyAndUdp4) {
  EXPECT_EQ(run_role("cn_dgram_ipv6only"), std::vector<Message>{Message({{"same", true}})});
}

// Verifies reuse_addr lets two sockets of one worker bind one port (Node: test-cluster-dgram-reuse.js).
TEST(ConformanceNet, DgramReuseAddr) {
  EXPECT_EQ(run_role("cn_dgram_reuse"), std::vector<Message>{Message({{"same", true}})});
}

// Verifies a socket closed before the primary answers its bind never listens nor errs (Node:
// test-dgram-cluster-close-during-bind.js).
TEST(ConformanceNet, DgramClosedDuringBind) {
  MustCall exits(1, "exit");
  std::vector<Message> got;
  auto w = fork_role("cn_dgram_close_during_bind");
  w->on(ev::message, [&, w](const Message& m) {
    got.push_back(m);
    w->disconnect();
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
  EXPECT_EQ(got, std::vector<Message>{"closed"});
}

// Verifies closing a clustered UDP socket from its listening callback (Node:
// test-dgram-cluster-close-in-listening.js).
TEST(ConformanceNet, DgramCloseInListening) { EXPECT_TRUE(run_role("cn_dgram_close_in_listening").empty()); }

// Verifies an unref'd clustered UDP socket is not an active handle (Node:
// test-dgram-unref-in-cluster.js).
TEST(ConformanceNet, DgramUnrefInCluster) {
  EXPECT_EQ(run_role("cn_dgram_unref"), std::vector<Message>{Message({{"counted_once_reffed", true}})});
}

// Verifies bind({fd}) in a worker uses the primary's descriptor (Node: test-cluster-dgram-bind-fd.js).
TEST(ConformanceNet, DgramBindFd) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
  socklen_t len = sizeof in;
  getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
  const int port = ntohs(in.sin_port);
  std::string got;
  auto w = fork_role("cn_dgram_bind_fd", {{"FD", std::to_string(fd)}});
  w->on(ev::message, [&, w](const Message& m) {
    if (m.contains("port")) {
      EXPECT_EQ(m["port"], port);
      auto sender = dgram::create_socket(dgram::Type::udp4);
      sender->send("hello", port, "127.0.0.1", [sender](std::error_code) { sender->close(); });
    } else if (m.contains("got")) {
      got = m["got"];
      w->disconnect();
    } else {
      ADD_FAILURE() << m.dump();
      w->disconnect();
    }
  });
  run_loop();
  ::close(fd);
  EXPECT_EQ(got, "hello");
}

// Verifies a worker's UDP bind on a port the primary holds fails with EADDRINUSE, syscall bind
// (Node: test-dgram-cluster-bind-error.js, with a real error instead of a mocked one).
TEST(ConformanceNet, DgramBindErrorInWorker) {
  auto holder = dgram::create_socket(dgram::Type::udp4);
  Message got;
  holder->bind(0, "127.0.0.1", [&] {
    auto w = fork_role("cn_dgram_bind_taken", {{"PORT", std::to_string(holder->address()->port)}});
    w->on(ev::message, [&, w](const Message& m) {
      got = m;
      holder->close();
      w->disconnect();
    });
  });
  run_loop();
  EXPECT_EQ(got, Message({{"error", "EADDRINUSE"}, {"syscall", "bind"}}));
}

// Verifies a Unix socket path in use by another process's server gives EADDRINUSE in the
// worker, and the error reaches the primary (Node: test-cluster-eaccess.js).
TEST(ConformanceNet, UnixPathInUseIsEaddrinuse) {
  net_test::TempDir dir;
  const std::string sock = dir.path() + "/in-use";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, sock.c_str(), sizeof un.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  Message got;
  auto w = fork_role("cn_listen_path", {{"SOCK", sock}});
  w->on(ev::message, [&, w](const Message& m) {
    got = m;
    w->disconnect();
  });
  run_loop();
  ::close(fd);
  EXPECT_EQ(got, Message({{"error", "EADDRINUSE"}}));
}

// Verifies sending one socket twice: the first message carries it, the second arrives without a
// handle, and the worker exits 0 (Node: test-cluster-send-handle-twice.js).
TEST(ConformanceNet, SendSameSocketTwice) {
  std::vector<std::string> got;
  auto w = fork_role("cn_send_socket_twice");
  w->on(ev::message, [&, w](const Message& m, Handle& h) {
    got.push_back(m.get<std::string>() + (h ? "+handle" : ""));
    if (got.size() == 2) w->disconnect();
  });
  run_loop();
  EXPECT_EQ(got, (std::vector<std::string>{"one+handle", "two"}));
}

// Sends count socket handles with payload-sized messages to an echoing worker while it sends
// them back; every one returns with its handle and its payload intact.
void echo_handles(int count, std::size_t payload) {
  int back = 0;
  auto w = fork_role("cn_echo_handles");
  w->on(ev::message, [&, w](const Message& m, Handle& h) {
    EXPECT_TRUE(static_cast<bool>(h));
    EXPECT_EQ(m["n"], back);
    EXPECT_EQ(m["payload"].get<std::string>().size(), payload);
    if (++back == count) w->disconnect();
  });
  w->on(ev::online, [&, w] {
    for (int i = 0; i < count; ++i) {
      int sv[2];
      ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
      ::close(sv[1]);
      w->send({{"n", i}, {"payload", std::string(payload, 'p')}}, Handle::adopt(sv[0], HandleType::net_socket));
    }
  });
  run_loop();
  EXPECT_EQ(back, count);
}

// Verifies an ~800 KB message with a socket handle goes both ways (Node:
// sequential/test-cluster-send-handle-large-payload.js).
TEST(ConformanceNet, LargePayloadWithHandleBothWays) { echo_handles(1, 800 * 1024); }

// Verifies handles sent both ways at once do not deadlock (Node: test-cluster-send-deadlock.js).
TEST(ConformanceNet, HandlesBothWaysAtOnce) { echo_handles(20, 16); }

}  // namespace
