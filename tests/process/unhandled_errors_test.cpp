// Failures that must not pass in silence. A worker whose server cannot listen or bind, with no
// error listener, exits with code 1 and says why on stderr, as a Node 20 worker dies of the
// unhandled 'error' event (test-cluster-eaddrinuse.js shows the listener case); with a listener
// it stays. An unknown NODE_CLUSTER_SCHED_POLICY is an error in the primary (Node 20 silently
// uses rr).
#include "support/test_support.hpp"

#include <cluster/dgram.hpp>
#include <cluster/net.hpp>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

using namespace cluster;
using namespace testing_support;

// Listens (or with UDP set, binds udp4) on 127.0.0.1:PORT and sends "listening"; with
// WITH_LISTENER an error listener sends {error}, otherwise the error has no listener.
WORKER_ROLE(unheard_listen_error) {
  const int port = std::atoi(std::getenv("PORT"));
  const bool with_listener = std::getenv("WITH_LISTENER") != nullptr;
  auto report = [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); };
  if (std::getenv("UDP")) {
    static auto s = dgram::create_socket(dgram::Type::udp4);
    if (with_listener) s->on(ev::error, report);
    s->bind(port, "127.0.0.1", [] { worker().send("listening"); });
  } else {
    static auto s = net::create_server();
    if (with_listener) s->on(ev::error, report);
    s->listen(port, "127.0.0.1", [] { worker().send("listening"); });
  }
}

// Sends the policy this worker reads from the inherited environment.
WORKER_ROLE(report_policy) { worker().send({{"policy", scheduling_policy()}}); }

namespace {

class UnhandledListenError : public testing::TestWithParam<const char*> {};

// Holds 127.0.0.1:<port> in the primary (a TCP server or a UDP socket) and runs fn(port).
struct PortHolder {
  std::shared_ptr<net::Server> tcp;
  std::shared_ptr<dgram::Socket> udp;

  void hold(bool is_udp, std::function<void(int)> fn) {
    if (is_udp) {
      udp = dgram::create_socket(dgram::Type::udp4);
      udp->bind(0, "127.0.0.1", [this, fn] { fn(udp->address()->port); });
    } else {
      tcp = net::create_server();
      tcp->listen(0, "127.0.0.1", [this, fn] { fn(tcp->address()->port); });
    }
  }
  void release() {
    if (udp) udp->close();
    if (tcp) tcp->close();
  }
};

// Verifies a worker whose server hits EADDRINUSE with no error listener exits with code 1 (not a
// signal, not exited after disconnect) and writes the error's code, syscall, address and port on
// stderr, where before it stayed alive without listening.
TEST_P(UnhandledListenError, WorkerExitsWithCodeOne) {
  const bool udp = std::string(GetParam()) == "udp";
  PortHolder holder;
  std::string err;
  std::optional<int> code;
  std::string signal;
  int port = 0;
  holder.hold(udp, [&](int p) {
    port = p;
    setup_primary({.silent = true});
    Env env = {{"PORT", std::to_string(port)}};
    if (udp) env["UDP"] = "1";
    auto w = fork_role("unheard_listen_error", env);
    setup_primary({.silent = false});
    w->process().stdio(2)->on(ev::data, [&](std::string_view d) { err += d; });
    w->on(ev::message, [](const Message& m) { ADD_FAILURE() << "the worker should not get to " << m; });
    w->on(ev::exit, [&, raw = w.get()](int c, std::string_view sig) {
      code = c;
      signal = sig;
      EXPECT_FALSE(raw->exited_after_disconnect().value_or(true));
      holder.release();
    });
  });
  run_loop();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_EQ(signal, "");
  EXPECT_NE(err.find("EADDRINUSE"), std::string::npos) << err;
  EXPECT_NE(err.find("bind"), std::string::npos) << err;
  EXPECT_NE(err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << err;
  EXPECT_NE(err.find("port: " + std::to_string(port)), std::string::npos) << err;
}

// Verifies that with an error listener nothing changes: the listener gets EADDRINUSE, the
// worker stays connected, and it leaves with code 0 when disconnected.
TEST_P(UnhandledListenError, ListenerKeepsTheWorker) {
  const bool udp = std::string(GetParam()) == "udp";
  PortHolder holder;
  std::string error;
  std::optional<int> code;
  holder.hold(udp, [&](int port) {
    Env env = {{"PORT", std::to_string(port)}, {"WITH_LISTENER", "1"}};
    if (udp) env["UDP"] = "1";
    auto w = fork_role("unheard_listen_error", env);
    w->on(ev::message, [&, raw = w.get()](const Message& m) {
      error = m.value("error", "listened");
      EXPECT_TRUE(raw->is_connected());
      raw->disconnect();
      holder.release();
    });
    w->on(ev::exit, [&](int c, std::string_view) { code = c; });
  });
  run_loop();
  EXPECT_EQ(error, "EADDRINUSE");
  EXPECT_EQ(code, 0);
}

INSTANTIATE_TEST_SUITE_P(Net, UnhandledListenError, testing::Values("tcp", "udp"),
                         [](const testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// Sets an environment variable for the scope of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* v = std::getenv(name)) before_ = v;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (before_) {
      ::setenv(name_, before_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> before_;
};

// Verifies NODE_CLUSTER_SCHED_POLICY=bogus makes scheduling_policy(), setup_primary() and fork()
// throw std::invalid_argument naming the value and the valid ones (rr, none, reuseport), changing
// nothing; set_scheduling_policy() then still chooses, and a worker inheriting the variable runs
// (it reads it as rr). Node 20 takes an unknown value for rr in silence.
TEST(SchedPolicyEnv, UnknownValueIsAnError) {
  if (settings().exec) GTEST_SKIP() << "setup_primary() already ran in this process";
  ScopedEnv bogus("NODE_CLUSTER_SCHED_POLICY", "bogus");
  try {
    scheduling_policy();
    GTEST_SKIP() << "the policy was read before this test";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const char* word : {"NODE_CLUSTER_SCHED_POLICY=bogus", "rr", "none", "reuseport"}) {
      EXPECT_NE(what.find(word), std::string::npos) << what;
    }
  }
  EXPECT_THROW(setup_primary(), std::invalid_argument);
  EXPECT_THROW(fork_role("report_policy"), std::invalid_argument);
  EXPECT_FALSE(settings().exec) << "a failed setup_primary() changes no setting";
  EXPECT_TRUE(workers().empty());

  set_scheduling_policy(sched_none);
  EXPECT_EQ(scheduling_policy(), sched_none);
  std::optional<int> reported;
  auto w = fork_role("report_policy");
  w->on(ev::message, [&, raw = w.get()](const Message& m) {
    reported = m.value("policy", 0);
    raw->disconnect();
  });
  run_loop();
  EXPECT_EQ(reported, sched_rr);
}

}  // namespace
