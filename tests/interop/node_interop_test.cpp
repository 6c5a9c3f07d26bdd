// Interop with the real node binary: a C++ primary runs unmodified Node workers, and a Node
// primary runs C++ workers. Both directions use Node's wire protocol byte for byte.
#include "support/test_support.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(node_interop) {
  const char* mode = std::getenv("NODE_CHANNEL_SERIALIZATION_MODE");  // already removed: null
  worker().send({{"ready", true},
                 {"id", worker().id()},
                 {"envCleared", mode == nullptr && std::getenv("NODE_UNIQUE_ID") == nullptr},
                 {"serialization", std::getenv("INTEROP_SERIALIZATION") ? std::getenv("INTEROP_SERIALIZATION") : "json"}});
  worker().on(ev::message, [](const Message& m) {
    if (m == "disconnect yourself") {
      worker().disconnect();
    } else {
      worker().send({{"echo", m}, {"id", worker().id()}});
    }
  });
}

namespace {

void run_node_workers(Serialization mode) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  const std::string mode_name = mode == Serialization::advanced ? "advanced" : "json";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_worker.js", .args = {mode_name},
                 .serialization = mode});
  Message payload = {{"hello", "wörld"}, {"n", 1}, {"list", {1, "x", nullptr, true}}, {"big", 12345678901LL},
                           {"f", 1.5}, {"s", "line\nbreak \u2028 😀"}};
  if (mode == Serialization::advanced) payload["buf"] = Message::binary({0, 1, 2, 254, 255});
  std::map<int, std::vector<std::string>> log;
  std::map<int, Message> exits;
  const std::vector<std::string> modes = {"primary-disconnect", "worker-disconnect", "worker-destroy", "kill", "exit7"};
  for (const auto& how : modes) {
    auto w = cluster::fork();
    Worker* wp = w.get();
    w->on(ev::online, [&log, wp] { log[wp->id()].push_back("online"); });
    w->on(ev::message, [&, wp, how](const Message& m) {
      if (m.contains("ready")) {
        log[wp->id()].push_back("ready");
        EXPECT_EQ(m["id"], wp->id());
        EXPECT_EQ(m["state"], "online");
        EXPECT_EQ(m["envCleared"], true);
        EXPECT_EQ(m["serialization"], mode_name);
        wp->send(payload);
      } else if (m.contains("echo")) {
        log[wp->id()].push_back("echo");
        EXPECT_EQ(m["echo"], payload);
        if (how == "primary-disconnect") wp->disconnect();
        if (how == "worker-disconnect") wp->send("disconnect yourself");
        if (how == "worker-destroy") wp->send("destroy yourself");
        if (how == "kill") wp->kill(SIGKILL);
        if (how == "exit7") wp->send("exit 7");
      }
    });
    w->on(ev::disconnect, [&log, wp] { log[wp->id()].push_back("disconnect"); });
    w->on(ev::exit, [&exits, wp](int code, std::string_view sig) {
      exits[wp->id()] = {code, std::string(sig), wp->exited_after_disconnect().value_or(false)};
    });
  }
  run_loop();
  ASSERT_EQ(exits.size(), modes.size());
  EXPECT_EQ(exits[1], Message({0, "", true}));        // primary disconnect()
  EXPECT_EQ(exits[2], Message({0, "", true}));        // worker.disconnect() in Node
  EXPECT_EQ(exits[3], Message({0, "", true}));        // worker.destroy() in Node
  EXPECT_EQ(exits[4], Message({0, "SIGKILL", false}));
  EXPECT_EQ(exits[5], Message({7, "", false}));
  for (auto& [id, l] : log) {
    ASSERT_GE(l.size(), 4u) << "worker " << id;
    EXPECT_EQ(l[0], "online");
    EXPECT_EQ(l[1], "ready");
    EXPECT_EQ(l[2], "echo");
    EXPECT_EQ(l[3], "disconnect");
  }
  EXPECT_TRUE(workers().empty());
}

// Verifies a C++ primary drives unmodified Node workers over 'json' IPC: online, messages both
// ways, and every way of leaving with Node's exit code, signal and exitedAfterDisconnect.
TEST(Interop, CppPrimaryRunsNodeWorkersJson) { run_node_workers(Serialization::json); }

// Verifies a Node.js primary runs C++ workers: online, messages, disconnect from either side and
// kill give Node's events (checked by tests/interop/node_primary.js, which exits 0 on success).
TEST(Interop, NodePrimaryRunsCppWorkersJson) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  std::string cmd = "timeout 60 node " + tests_dir() + "/interop/node_primary.js " + self_exe() + " json";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

// Verifies the same under 'advanced' serialization (Node's V8 format, issue 4), with a Buffer.
TEST(Interop, CppPrimaryRunsNodeWorkersAdvanced) { run_node_workers(Serialization::advanced); }

// Verifies a Node.js primary runs C++ workers under 'advanced' serialization.
TEST(Interop, NodePrimaryRunsCppWorkersAdvanced) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  std::string cmd = "timeout 60 node " + tests_dir() + "/interop/node_primary.js " + self_exe() + " advanced";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

}  // namespace
