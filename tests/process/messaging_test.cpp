// Messages both ways, event order, handles and closed channels. Ports of Node's
// test-cluster-message.js, -worker-events.js, -worker-init.js, -send-handle-*.js.
#include "support/test_support.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(echo) {
  worker().on(ev::message, [](const Message& m) {
    if (m == "bye") {
      worker().disconnect();
      return;
    }
    worker().send(m);
  });
}

WORKER_ROLE(send_first_then_exit) {
  // A message sent at once must reach the primary after 'online' (the seed's 'online' rule).
  worker().send({{"hello", "from worker"}});
  worker().disconnect();
}

// Reports the port of a listening socket it is handed, then sends it back.
WORKER_ROLE(handle_echo) {
  worker().on(ev::message, [](const Message& m, Handle& h) {
    Message reply = {{"got", m}, {"type", std::string(handle_type_name(h.type()))}};
    if (h) {
      sockaddr_in sa{};
      socklen_t len = sizeof sa;
      getsockname(h.fd(), reinterpret_cast<sockaddr*>(&sa), &len);
      reply["port"] = ntohs(sa.sin_port);
      worker().send(reply, std::move(h));
    } else {
      worker().send(reply);
    }
  });
}

// Sends a message after the primary has closed the channel: the callback sees channel_closed.
WORKER_ROLE(send_after_close) {
  worker().on(ev::message, [](const Message&) {
    worker().send("first", {}, {}, [](std::error_code ec) {
      if (ec) std::exit(9);
      worker().disconnect();
    });
  });
}

namespace {

int listening_socket(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  listen(fd, 16);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// Verifies the seed's echo example and Node's order: cluster 'message' before worker 'message'
// (test-cluster-message.js), with strings, objects and non-ASCII text intact.
TEST(Messaging, EchoInOrderAndClusterEventFirst) {
  std::vector<std::string> order;
  std::vector<Message> echoed;
  const std::vector<Message> sent = {"hi there", {{"hello", "wörld"}, {"n", 1}}, {1, "x", nullptr, true},
                                     42, 1.5, "line\nbreak \u2028 😀"};
  auto w = fork_role("echo");
  on(ev::message, [&](Worker& from, const Message&) {
    EXPECT_EQ(&from, w.get());
    order.push_back("cluster");
  });
  w->on(ev::message, [&](const Message& m) {
    order.push_back("worker");
    echoed.push_back(m);
    if (echoed.size() == sent.size()) w->send("bye");
  });
  for (const auto& m : sent) EXPECT_TRUE(w->send(m));
  run_loop();
  EXPECT_EQ(echoed, sent);
  ASSERT_EQ(order.size(), 2 * sent.size());
  for (std::size_t i = 0; i < order.size(); i += 2) {
    EXPECT_EQ(order[i], "cluster");
    EXPECT_EQ(order[i + 1], "worker");
  }
}

// Verifies 'online' comes before any message the worker sends at start.
TEST(Messaging, OnlineBeforeFirstMessage) {
  std::vector<std::string> order;
  auto w = fork_role("send_first_then_exit");
  w->on(ev::online, [&] { order.push_back("online"); });
  w->on(ev::message, [&](const Message& m) { order.push_back(m["hello"].get<std::string>()); });
  run_loop();
  EXPECT_EQ(order, (std::vector<std::string>{"online", "from worker"}));
}

// Verifies NODE_-prefixed user messages never reach 'message' and {cmd:'NODE_CLUSTER', ack:-1}
// is ignored harmlessly (test-cluster-invalid-message.js).
TEST(Messaging, InternalLookalikesAreNotDelivered) {
  std::vector<Message> got;
  auto w = fork_role("echo");
  w->on(ev::message, [&](const Message& m) {
    got.push_back(m);
    if (m == "last") w->send("bye");
  });
  w->on(ev::error, [&](const std::system_error& e) { ADD_FAILURE() << e.what(); });
  w->send({{"cmd", "NODE_CLUSTER"}, {"ack", -1}});
  w->send({{"cmd", "NODE_X"}, {"big", true}});
  w->send({{"cmd", "NODE_"}, {"short", true}});  // not internal: cmd must be longer than 5
  w->send("last");
  MustCall exits(1, "exit");
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
  EXPECT_EQ(got, (std::vector<Message>{{{"cmd", "NODE_"}, {"short", true}}, "last"}));
}

// Verifies a listening socket sent with a message arrives as a usable fd (NODE_HANDLE,
// net.Server), and comes back the other way.
TEST(Messaging, SendsServerHandleBothWays) {
  int port = 0;
  int fd = listening_socket(&port);
  auto w = fork_role("handle_echo");
  MustCall replies(1, "reply");
  w->on(ev::message, [&](const Message& m, Handle& h) {
    replies();
    EXPECT_EQ(m["got"], Message({{"k", "server"}}));
    EXPECT_EQ(m["type"], "net.Server");
    EXPECT_EQ(m["port"], port);
    ASSERT_TRUE(h);
    EXPECT_EQ(h.type(), HandleType::net_server);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ASSERT_EQ(getsockname(h.fd(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
    EXPECT_EQ(ntohs(sa.sin_port), port);
    w->disconnect();
  });
  MustCall sent(1, "send callback");
  EXPECT_TRUE(w->send({{"k", "server"}}, Handle::borrow(fd, HandleType::net_server), {}, [&](std::error_code ec) {
    sent();
    EXPECT_FALSE(ec);
  }));
  run_loop();
  // A borrowed handle stays the caller's: still open here.
  EXPECT_EQ(fcntl(fd, F_GETFD) >= 0, true);
  close(fd);
}

// Verifies messages queued behind an unacknowledged handle keep their order (Node's _handleQueue).
TEST(Messaging, MessagesAfterHandleKeepOrder) {
  int port = 0;
  int fd = listening_socket(&port);
  auto w = fork_role("handle_echo");
  std::vector<Message> got;
  w->on(ev::message, [&](const Message& m) {
    got.push_back(m["got"]);
    if (got.size() == 4) w->disconnect();
  });
  w->send(1);
  w->send(2, Handle::adopt(dup(fd), HandleType::net_server));
  w->send(3);
  w->send(4);
  run_loop();
  EXPECT_EQ(got, (std::vector<Message>{1, 2, 3, 4}));
  close(fd);
}

// Verifies send() on a closed channel: false, and the callback gets channel_closed
// (Node: ERR_IPC_CHANNEL_CLOSED).
TEST(Messaging, SendAfterDisconnectReportsChannelClosed) {
  MustCall cb(1, "callback"), err(1, "error event");
  auto w = fork_role("idle2");
  w->on(ev::exit, [&] {
    EXPECT_FALSE(w->send("late", {}, {}, [&](std::error_code ec) {
      cb();
      EXPECT_EQ(ec, make_error_code(errc::channel_closed));
      EXPECT_EQ(err_name(ec), "ERR_IPC_CHANNEL_CLOSED");
    }));
    w->on(ev::error, [&](const std::system_error& e) {
      err();
      EXPECT_EQ(e.code(), make_error_code(errc::channel_closed));
    });
    EXPECT_FALSE(w->send("late without callback"));
  });
  w->on(ev::online, [&] { w->disconnect(); });
  run_loop();
}

// Verifies a handle that is not a socket is refused with bad_handle, not sent.
TEST(Messaging, NonSocketHandleIsRefused) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  MustCall cb(1, "callback");
  auto w = fork_role("idle2");
  w->on(ev::online, [&] {
    EXPECT_FALSE(w->send("x", Handle::borrow(p[0], HandleType::net_socket), {}, [&](std::error_code ec) {
      cb();
      EXPECT_EQ(ec, make_error_code(errc::bad_handle));
      w->disconnect();
    }));
  });
  run_loop();
  close(p[0]);
  close(p[1]);
}

}  // namespace

WORKER_ROLE(idle2) { (void)worker(); }

namespace {

// Whether this process still holds a descriptor of the IPC rings' memfd.
bool ring_memfd_open() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code rl;
    if (std::filesystem::read_symlink(e.path(), rl).string().find("cppcluster-ipc-ring") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// Echoes, and first says whether the busy-poll and ring variables were removed from its
// environment before main, whether its channel runs over the shared-memory rings, and whether
// the rings' descriptor was closed once they were mapped.
WORKER_ROLE(echo_spin) {
  worker().send({{"env_left", std::getenv("CPPCLUSTER_IPC_BUSY_POLL_US") != nullptr ||
                                  std::getenv("CPPCLUSTER_IPC_RING_FD") != nullptr},
                 {"rings", detail::WorkerAccess::target(worker())->channel().uses_rings()},
                 {"ring_fd_open", ring_memfd_open()}});
  worker().on(ev::message, [](const Message& m) {
    if (m == "bye") {
      worker().disconnect();
      return;
    }
    worker().send(m);
  });
}

namespace {

struct PingPong {
  bool primary_rings = false;  // the primary's end of the channel runs over the rings
  Message hello;               // what echo_spin said first
  std::vector<int> got;        // the echoes, in arrival order
  int code = -1;               // the worker's exit code
};

// Forks echo_spin with env, plays n rounds of ping-pong with it, then lets it leave.
PingPong ping_pong(int n, Env env) {
  PingPong r;
  int next = 0;
  auto w = fork_role("echo_spin", std::move(env));
  r.primary_rings = detail::WorkerAccess::target(*w)->channel().uses_rings();
  w->on(ev::message, [&](const Message& m) {
    if (m.is_object()) {
      r.hello = m;
      w->send(next++);
      return;
    }
    r.got.push_back(m.get<int>());
    w->send(next < n ? Message(next++) : Message("bye"));
  });
  w->on(ev::exit, [&](int c, std::string_view) { r.code = c; });
  run_loop();
  return r;
}

// Verifies ipc_busy_poll_us (beyond Node): a ping-pong of 2000 messages arrives complete and in
// order with both ends busy-polling over the shared-memory rings (the worker is this program),
// the worker's environment no longer holds the variables nor the rings' descriptor (values given
// in fork's env do not override them), and the polling does not keep the loop alive once the
// worker is gone (run_loop returns).
TEST(Messaging, BusyPollPingPong) {
  setup_primary({.ipc_busy_poll_us = 200});
  constexpr int n = 2000;
  auto r = ping_pong(n, {{"CPPCLUSTER_IPC_BUSY_POLL_US", "0"}, {"CPPCLUSTER_IPC_RING_FD", "0"}});
  EXPECT_TRUE(r.primary_rings);
  EXPECT_EQ(r.hello, (Message{{"env_left", false}, {"rings", true}, {"ring_fd_open", false}}));
  ASSERT_EQ(r.got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(r.got[i], i);
  EXPECT_EQ(r.code, 0);
  EXPECT_THROW(setup_primary({.ipc_busy_poll_us = 2000000}), std::invalid_argument);
}

// Verifies that when the primary cannot make the rings (here the memfd cannot grow past
// RLIMIT_FSIZE), the busy-polling channel carries its frames on the socket instead.
TEST(Messaging, BusyPollWithoutRingsUsesTheSocket) {
  setup_primary({.ipc_busy_poll_us = 200});
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  ::signal(SIGXFSZ, SIG_IGN);  // ftruncate then fails with EFBIG instead of killing us
  rlimit small = old;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  constexpr int n = 300;
  auto r = ping_pong(n, {});  // the worker inherits the limit too; it writes no files
  ::setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_FALSE(r.primary_rings);
  EXPECT_EQ(r.hello, (Message{{"env_left", false}, {"rings", false}, {"ring_fd_open", false}}));
  ASSERT_EQ(r.got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(r.got[i], i);
  EXPECT_EQ(r.code, 0);
}

// Verifies that a worker given something that is not the rings says why on stderr and exits 1
// before its main, instead of running with a channel it cannot read.
TEST(Messaging, WorkerThatCannotMapTheRingsSaysWhyAndExits) {
  int sv[2], not_rings[2], err[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(::pipe2(not_rings, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(sv[1], 3);
    ::dup2(not_rings[0], 4);
    ::dup2(err[1], 2);
    ::setenv("NODE_UNIQUE_ID", "1", 1);
    ::setenv("NODE_CHANNEL_FD", "3", 1);
    ::setenv("CPPCLUSTER_IPC_BUSY_POLL_US", "50", 1);
    ::setenv("CPPCLUSTER_IPC_RING_FD", "4", 1);
    ::setenv("CPPCLUSTER_TEST_ROLE", "idle2", 1);
    ::execl("/proc/self/exe", "process_tests", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err[1]);
  std::string said;
  char buf[512];
  for (ssize_t k; (k = ::read(err[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(k));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "status " << status;
  EXPECT_NE(said.find("cannot map the IPC rings"), std::string::npos) << said;
  for (int f : {sv[0], sv[1], not_rings[0], not_rings[1], err[0]}) ::close(f);
}

}  // namespace

namespace {

// Verifies that many handles sent at once to a C++ worker (pipelined: several descriptors per
// sendmsg, no ACK wait) each arrive with their own message: the worker reports the port of the
// socket that came with message i, and sends every socket back.
TEST(Messaging, ManyHandlesAtOnceKeepTheirMessages) {
  constexpr int n = 40;
  std::vector<int> fds(n), ports(n);
  for (int i = 0; i < n; ++i) fds[i] = listening_socket(&ports[i]);
  std::vector<Message> got;
  int returned = 0;
  auto w = fork_role("handle_echo");
  w->on(ev::online, [&] {
    for (int i = 0; i < n; ++i) w->send(i, Handle::borrow(fds[i], HandleType::net_native));
  });
  w->on(ev::message, [&](const Message& m, Handle& h) {
    got.push_back(m);
    if (h) ++returned;
    if (static_cast<int>(got.size()) == n) w->disconnect();
  });
  run_loop();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(got[i]["got"], i);
    EXPECT_EQ(got[i]["port"], ports[i]) << "message " << i;
  }
  EXPECT_EQ(returned, n);
  for (int f : fds) ::close(f);
}

}  // namespace
