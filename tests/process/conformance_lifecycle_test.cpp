// Ports of Node 20's lifecycle and disconnect tests not covered elsewhere: states over a
// worker's life, a listening worker exiting, disconnect waiting for servers and connections,
// cluster::disconnect() over many workers, disconnect races, and worker-side destroy.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/dgram.hpp>
#include <cluster/net.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

std::shared_ptr<net::Server> listen_zero(std::function<void()> cb = {}) {
  auto s = net::create_server();
  s->listen(0, std::move(cb));
  return s;
}

}  // namespace

WORKER_ROLE(cl_listen) { static auto s = listen_zero(); }

WORKER_ROLE(cl_listen_then_exit42) {
  static auto s = listen_zero([] { std::exit(42); });
}

WORKER_ROLE(cl_two_servers) {
  static auto a = net::create_server();
  static auto b = net::create_server();
  a->listen(0, [] { b->listen(0, [] { worker().send("ready"); }); });
}

WORKER_ROLE(cl_udp) {
  static auto s = dgram::create_socket(dgram::Type::udp4);
  s->bind(0, "127.0.0.1", [] { worker().send("ready"); });
}

WORKER_ROLE(cl_idle) { (void)worker(); }

WORKER_ROLE(cl_self_disconnect) { worker().disconnect(); }

WORKER_ROLE(cl_self_destroy) { worker().destroy(); }

WORKER_ROLE(cl_destroy_after_disconnect) {
  worker().on(ev::disconnect, [] { worker().destroy(); });
  worker().disconnect();
}

// Holds each connection open until the client sends a byte, then ends it; answers "probe".
WORKER_ROLE(cl_hold_connections) {
  static auto s = net::create_server([](const std::shared_ptr<net::Socket>& c) {
    // A raw pointer: a listener holding the socket's own shared_ptr would keep it forever.
    c->on(ev::data, [raw = c.get()](std::string_view) { raw->end(); });
    worker().send("connected");
  });
  s->listen(0, "127.0.0.1");
  worker().on(ev::message, [](const Message& m) {
    if (m == "probe") worker().send({{"probe", true}, {"connected", worker().is_connected()}});
  });
}

// Listens on PORT (taken) and disconnects from the error listener.
WORKER_ROLE(cl_disconnect_on_error) {
  static auto s = net::create_server();
  s->on(ev::error, [](const std::system_error&) { worker().disconnect(); });
  s->listen(std::atoi(std::getenv("PORT")), "127.0.0.1");
}

// Node's server-restart test: worker 2 closes and listens again on 0 while worker 1 holds the key.
WORKER_ROLE(cl_restart_listen) {
  static auto s = net::create_server();
  s->listen(0, [] {
    if (worker().id() != 2) return;
    s->close([](std::error_code) {
      s->listen(0, [] { s->close([](std::error_code) { process_disconnect(); }); });
    });
  });
}

namespace {

// Verifies the states none -> online -> listening -> dead, and the listening address (a real
// port, tcp4, no fd) on the worker and the cluster (Node: test-cluster-basic.js,
// test-cluster-listening-port.js).
TEST(ConformanceLifecycle, StatesAndListeningAddress) {
  std::vector<std::string> seen;
  MustCall exits(1, "exit");
  auto w = fork_role("cl_listen");
  seen.push_back(std::string(state_name(w->state())));
  on(ev::online, [&](Worker& x) { seen.push_back("online:" + std::string(state_name(x.state()))); });
  on(ev::listening, [&](Worker& x, const Address& a) {
    seen.push_back("listening:" + std::string(state_name(x.state())));
    EXPECT_GT(a.port, 0);
    EXPECT_EQ(a.address_type, AddressType::tcp4);
    EXPECT_FALSE(a.fd.has_value());
    x.kill();
  });
  on(ev::exit, [&](Worker& x, int, std::string_view sig) {
    exits();
    seen.push_back("exit:" + std::string(state_name(x.state())));
    EXPECT_EQ(sig, "SIGTERM");
  });
  run_loop();
  EXPECT_EQ(seen, (std::vector<std::string>{"none", "online:online", "listening:listening", "exit:dead"}));
}

// Verifies a listening worker that exits 42 gives one disconnect and one exit, state dead and
// exited_after_disconnect false (Node: test-cluster-worker-exit.js).
TEST(ConformanceLifecycle, ListeningWorkerExitingReportsOnce) {
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("cl_listen_then_exit42");
  w->on(ev::disconnect, [&] { disconnects(); });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 42);
    EXPECT_EQ(w->state(), WorkerState::dead);
    EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(false));
  });
  run_loop();
}

// Verifies disconnect() waits for the worker's servers and their connections: the worker stays
// connected and alive while a client holds a connection, and disconnects and exits once it ends
// (Node: test-cluster-worker-wait-server-close.js, test-cluster-worker-no-exit.js).
TEST(ConformanceLifecycle, DisconnectWaitsForOpenConnections) {
  std::shared_ptr<net::Socket> client;
  bool released = false;
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("cl_hold_connections");
  w->on(ev::listening, [&](const Address& a) {
    client = net::Socket::connect(a.port);
    client->on(ev::end, [&] { client->end(); });
  });
  w->on(ev::message, [&, w](const Message& m) {
    if (m == "connected") {
      w->disconnect();
      w->send("probe");  // read after the disconnect request
    } else if (m.contains("probe")) {
      EXPECT_EQ(m["connected"], true);
      released = true;
      client->write(".");
    }
  });
  w->on(ev::disconnect, [&] {
    disconnects();
    EXPECT_TRUE(released);
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_TRUE(released);
    EXPECT_EQ(code, 0);
  });
  run_loop();
}

// Verifies cluster::disconnect(cb) over 4 workers with 2 servers each: every worker exits 0 after
// a voluntary disconnect, workers() is empty in cb, and a second round works the same (Node:
// test-cluster-disconnect.js).
TEST(ConformanceLifecycle, ClusterDisconnectTwiceOverWorkersWithServers) {
  constexpr int n = 4;
  int rounds = 0, ready = 0, exits = 0, callbacks = 0;
  std::function<void()> round = [&] {
    ready = 0;
    for (int i = 0; i < n; ++i) {
      auto w = fork_role("cl_two_servers");
      w->on(ev::message, [&](const Message&) {
        if (++ready == n) {
          cluster::disconnect([&] {
            ++callbacks;
            EXPECT_TRUE(workers().empty());
          });
        }
      });
      w->on(ev::exit, [&, w](int code) {
        EXPECT_EQ(code, 0);
        EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
        if (++exits % n == 0 && ++rounds < 2) round();
      });
    }
  };
  round();
  run_loop();
  EXPECT_EQ(rounds, 2);
  EXPECT_EQ(exits, 2 * n);
  EXPECT_EQ(callbacks, 2);
}

// Verifies cluster::disconnect() called from the disconnect event of a worker already
// disconnected skips it and still calls back (Node: test-cluster-disconnect-before-exit.js).
TEST(ConformanceLifecycle, ClusterDisconnectAfterWorkerDisconnected) {
  MustCall exits(1, "exit"), cb(1, "callback");
  auto w = fork_role("cl_idle");
  w->on(ev::online, [&, w] {
    w->disconnect();
    w->on(ev::disconnect, [&] { cluster::disconnect([&] { cb(); }); });
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
}

// Verifies cluster::disconnect() right after fork, while the worker starts listening under
// sched_none, still gives disconnect and exit (Node: test-cluster-disconnect-leak.js).
TEST(ConformanceLifecycle, DisconnectRightAfterForkUnderSchedNone) {
  if (!net_test::use_policy(sched_none)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("cl_listen");
  w->on(ev::disconnect, [&] { disconnects(); });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  cluster::disconnect();
  run_loop();
}

// Verifies disconnecting worker 1 (holding a shared handle) while forking worker 2 on the same
// key, then disconnecting worker 2 once online: both exit 0 (Node: test-cluster-disconnect-race.js).
TEST(ConformanceLifecycle, DisconnectWhileAnotherWorkerJoinsUnderSchedNone) {
  if (!net_test::use_policy(sched_none)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall exits(2, "exit");
  auto w1 = fork_role("cl_listen");
  w1->on(ev::listening, [&, w1] {
    auto w2 = fork_role("cl_listen");
    w2->on(ev::online, [w2] { w2->disconnect(); });
    w2->on(ev::exit, [&](int code) {
      exits();
      EXPECT_EQ(code, 0);
    });
    w1->disconnect();
  });
  w1->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
}

// Verifies disconnecting a worker that never listened while another holds a TCP or UDP handle,
// then the other: both exit 0 (Node: test-cluster-disconnect-unshared-tcp.js, -unshared-udp.js).
void disconnect_unshared(const char* holder_role, bool message_when_ready) {
  MustCall exits(2, "exit");
  auto holder = fork_role(holder_role);
  auto idle = fork_role("cl_idle");
  auto go = [&, holder, idle] {
    idle->disconnect();
    idle->on(ev::exit, [holder] { holder->disconnect(); });
  };
  if (message_when_ready) {
    holder->on(ev::message, [go](const Message&) { go(); });
  } else {
    holder->on(ev::listening, [go] { go(); });
  }
  for (auto& w : {holder, idle}) {
    w->on(ev::exit, [&](int code) {
      exits();
      EXPECT_EQ(code, 0);
    });
  }
  run_loop();
}

TEST(ConformanceLifecycle, DisconnectUnsharedTcp) { disconnect_unshared("cl_listen", false); }

TEST(ConformanceLifecycle, DisconnectUnsharedUdp) { disconnect_unshared("cl_udp", true); }

// Verifies several workers disconnecting and destroying themselves at once all exit 0 with no
// error on the primary (Node: test-cluster-concurrent-disconnect.js).
TEST(ConformanceLifecycle, ConcurrentWorkerDisconnectAndDestroy) {
  constexpr int n = 6;
  MustCall exits(n, "exit");
  for (int i = 0; i < n; ++i) {
    auto w = fork_role(i % 2 ? "cl_self_disconnect" : "cl_self_destroy");
    w->on(ev::error, [](const std::system_error& e) {
      const std::string name = err_name(e.code());
      EXPECT_TRUE(name == "EPIPE" || name == "ECONNRESET") << e.what();
    });
    w->on(ev::exit, [&, w](int code) {
      exits();
      EXPECT_EQ(code, 0);
      EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
    });
  }
  run_loop();
}

// Verifies destroy() in the primary after the worker disconnected is harmless (Node:
// test-cluster-call-and-destroy.js).
TEST(ConformanceLifecycle, DestroyAfterDisconnect) {
  MustCall disconnects(1, "disconnect"), exits(1, "exit");
  auto w = fork_role("cl_self_disconnect");
  w->on(ev::disconnect, [&, w] {
    disconnects();
    EXPECT_FALSE(w->is_connected());
    w->destroy();
  });
  w->on(ev::exit, [&] { exits(); });
  run_loop();
}

// Verifies worker-side destroy() while connected and after disconnecting both exit 0,
// voluntarily (Node: test-cluster-worker-destroy.js).
TEST(ConformanceLifecycle, WorkerDestroyConnectedAndAfterDisconnect) {
  MustCall exits(2, "exit");
  for (const char* role : {"cl_self_destroy", "cl_destroy_after_disconnect"}) {
    auto w = fork_role(role);
    w->on(ev::exit, [&, w, role](int code, std::string_view sig) {
      exits();
      EXPECT_EQ(code, 0) << role;
      EXPECT_EQ(sig, "") << role;
      EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true)) << role;
    });
  }
  run_loop();
}

// Verifies a worker disconnecting from its listen error listener (the port taken, sched_none)
// exits 0, voluntarily (Node: test-cluster-worker-disconnect-on-error.js).
TEST(ConformanceLifecycle, DisconnectFromListenErrorUnderSchedNone) {
  if (!net_test::use_policy(sched_none)) GTEST_SKIP() << "the policy is frozen in this process";
  auto holder = net::create_server();
  MustCall exits(1, "exit");
  holder->listen(0, "127.0.0.1", [&] {
    auto w = fork_role("cl_disconnect_on_error", {{"PORT", std::to_string(holder->address()->port)}});
    w->on(ev::exit, [&, w](int code) {
      exits();
      EXPECT_EQ(code, 0);
      EXPECT_EQ(w->exited_after_disconnect(), std::optional<bool>(true));
      holder->close();
    });
  });
  run_loop();
}

// Verifies worker 2 can close and listen again on 0 while worker 1 holds the key, under both
// policies (Node: test-cluster-server-restart-rr.js, -server-restart-none.js).
void server_restart(int policy) {
  if (!net_test::use_policy(policy)) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall exits(2, "exit");
  auto w1 = fork_role("cl_restart_listen");
  w1->on(ev::listening, [&, w1] {
    auto w2 = fork_role("cl_restart_listen");
    w2->on(ev::exit, [&, w1](int code, std::string_view sig) {
      exits();
      EXPECT_EQ(code, 0);
      EXPECT_EQ(sig, "");
      w1->disconnect();
    });
  });
  w1->on(ev::exit, [&](int code, std::string_view sig) {
    exits();
    EXPECT_EQ(code, 0);
    EXPECT_EQ(sig, "");
  });
  run_loop();
}

TEST(ConformanceLifecycle, ServerRestartRoundRobin) { server_restart(sched_rr); }

TEST(ConformanceLifecycle, ServerRestartSchedNone) { server_restart(sched_none); }

}  // namespace
