// Settings, setup events, fork(env), stdio and misuse. Ports of Node's
// test-cluster-setup-primary*.js, -fork-env.js, -cwd.js, -fork-stdio.js, -inspect* and -basic.js.
#include "support/test_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      argv.emplace_back(all, start, i - start);
      start = i + 1;
    }
  }
  return argv;
}

Message env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v ? Message(v) : Message();
}

}  // namespace

WORKER_ROLE(report) {
  char cwd[4096];
  Message m = {{"argv", own_argv()},
               {"cwd", getcwd(cwd, sizeof cwd) ? cwd : ""},
               {"FOO", env_or_null("FOO")},
               {"PATH_SET", std::getenv("PATH") != nullptr},
               {"NODE_UNIQUE_ID", env_or_null("NODE_UNIQUE_ID")},
               {"NODE_CHANNEL_FD", env_or_null("NODE_CHANNEL_FD")},
               {"NODE_CHANNEL_SERIALIZATION_MODE", env_or_null("NODE_CHANNEL_SERIALIZATION_MODE")},
               {"uid", getuid()},
               {"gid", getgid()},
               {"id", worker().id()}};
  worker().send(m);
  worker().disconnect();
}

WORKER_ROLE(print_and_exit) {
  std::printf("out from worker %d\n", worker().id());
  std::fflush(stdout);
  std::fprintf(stderr, "err from worker\n");
  worker().disconnect();
}

WORKER_ROLE(misuse) {
  Message r = Message::object();
  try {
    cluster::fork();
    r["fork"] = "no throw";
  } catch (const std::logic_error& e) {
    r["fork"] = e.what();
  }
  try {
    setup_primary();
    r["setup_primary"] = "no throw";
  } catch (const std::logic_error&) {
    r["setup_primary"] = "threw";
  }
  try {
    workers();
    r["workers"] = "no throw";
  } catch (const std::logic_error&) {
    r["workers"] = "threw";
  }
  r["is_worker"] = is_worker();
  r["is_primary"] = is_primary();
  worker().send(r);
  worker().disconnect();
}

WORKER_ROLE(extra_pipe) {
  // stdio [inherit, inherit, inherit, ipc, pipe]: fd 4 is a pipe to the primary.
  const char msg[] = "via fd 4";
  if (write(4, msg, sizeof msg - 1) < 0) std::exit(5);
  close(4);
  worker().disconnect();
}

namespace {

// Verifies settings() is empty before setup, then holds Node's defaults, and later calls keep
// earlier values (test-cluster-setup-primary-cumulative.js).
TEST(Settings, CumulativeWithDefaults) {
  EXPECT_FALSE(settings().exec.has_value());
  EXPECT_FALSE(settings().args.has_value());
  setup_primary();
  EXPECT_EQ(*settings().exec, self_exe());
  EXPECT_TRUE(settings().args.has_value());
  EXPECT_EQ(settings().silent, std::optional<bool>(false));
  EXPECT_FALSE(settings().cwd.has_value());
  setup_primary({.args = {"--use", "https"}, .silent = true});
  setup_primary({.exec_argv = {"--flag"}});
  EXPECT_EQ(*settings().args, (std::vector<std::string>{"--use", "https"}));
  EXPECT_EQ(settings().silent, std::optional<bool>(true));
  EXPECT_EQ(*settings().exec_argv, (std::vector<std::string>{"--flag"}));
  EXPECT_EQ(*settings().exec, self_exe());
  run_loop();
}

// Verifies one 'setup' per setup_primary() call, emitted asynchronously with that call's
// settings, and the order setup, fork 1, setup, fork 2 (test-cluster-setup-primary-emit.js,
// -multiple.js).
TEST(Settings, SetupEventsAreAsyncAndOrdered) {
  std::vector<std::string> log;
  on(ev::setup, [&](const Settings& s) { log.push_back("setup " + (s.args->empty() ? std::string("-") : (*s.args)[0])); });
  on(ev::fork, [&](Worker& w) { log.push_back("fork " + std::to_string(w.id())); });
  setup_primary({.args = {"a"}});
  setup_primary({.args = {"b"}});
  EXPECT_TRUE(log.empty());
  fork_role("report");
  fork_role("report");
  EXPECT_TRUE(log.empty());
  run_loop();
  EXPECT_EQ(log, (std::vector<std::string>{"setup a", "setup b", "setup b", "fork 1", "setup b", "fork 2"}));
}

// Verifies args, exec_argv placement, cwd and fork(env) reach the worker, and the channel
// variables are gone from its environment (test-cluster-fork-env.js, -cwd.js, -basic.js).
TEST(Settings, ArgsCwdEnvReachWorker) {
  char tmpl[] = "/tmp/cppcluster-cwd-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  setup_primary({.args = {"--use", "http"}, .exec_argv = {"--early"}, .cwd = dir});
  MustCall got(1, "report");
  auto w = fork_role("report", {{"FOO", "bar"}, {"NODE_UNIQUE_ID", "999"}});
  w->on(ev::message, [&](const Message& m) {
    got();
    EXPECT_EQ(m["argv"], Message({self_exe(), "--early", "--use", "http"}));
    char real[4096];
    ASSERT_NE(realpath(dir.c_str(), real), nullptr);
    EXPECT_EQ(m["cwd"], real);
    EXPECT_EQ(m["FOO"], "bar");
    EXPECT_EQ(m["PATH_SET"], true);
    EXPECT_EQ(m["id"], 1);  // fork(env) cannot override NODE_UNIQUE_ID
    EXPECT_TRUE(m["NODE_UNIQUE_ID"].is_null());
    EXPECT_TRUE(m["NODE_CHANNEL_FD"].is_null());
    EXPECT_TRUE(m["NODE_CHANNEL_SERIALIZATION_MODE"].is_null());
  });
  run_loop();
  rmdir(dir.c_str());
}

// Verifies exec_argv with an --inspect flag gets --inspect-port per worker: 9229 + n by
// default, or inspect_port (a number or a function) (test-inspector-port-cluster.js).
TEST(Settings, InspectPortAppendedForInspectorFlags) {
  std::vector<Message> argvs;
  setup_primary({.exec_argv = {"--inspect=0"}});
  auto w1 = fork_role("report");
  auto w2 = fork_role("report");
  int next = 7000;
  setup_primary({.inspect_port = InspectPort(std::function<int()>([&] { return next++; }))});
  auto w3 = fork_role("report");
  setup_primary({.inspect_port = InspectPort(1234)});
  auto w4 = fork_role("report");
  for (auto& w : {w1, w2, w3, w4}) {
    w->on(ev::message, [&argvs, w](const Message& m) { argvs.push_back({w->id(), m["argv"]}); });
  }
  run_loop();
  ASSERT_EQ(argvs.size(), 4u);
  std::map<int, Message> by_id;
  for (auto& a : argvs) by_id[a[0].get<int>()] = a[1];
  EXPECT_EQ(by_id[1][2], "--inspect-port=9230");
  EXPECT_EQ(by_id[2][2], "--inspect-port=9231");
  EXPECT_EQ(by_id[3][2], "--inspect-port=7000");
  EXPECT_EQ(by_id[4][2], "--inspect-port=1234");
  setup_primary({.inspect_port = InspectPort(70000)});
  EXPECT_THROW(fork_role("report"), std::invalid_argument);
}

// Verifies silent: the worker's stdout and stderr arrive as streams in the primary
// (test-cluster-setup-primary.js).
TEST(Settings, SilentPipesStdoutAndStderr) {
  setup_primary({.silent = true});
  auto w = fork_role("print_and_exit");
  std::string out, err;
  ASSERT_NE(w->process().stdout_stream(), nullptr);
  ASSERT_NE(w->process().stderr_stream(), nullptr);
  w->process().stdout_stream()->on(ev::data, [&](std::string_view d) { out += d; });
  w->process().stderr_stream()->on(ev::data, [&](std::string_view d) { err += d; });
  run_loop();
  EXPECT_EQ(out, "out from worker 1\n");
  EXPECT_EQ(err, "err from worker\n");
}

// Verifies a custom stdio array with an extra pipe next to ipc, and the rule that stdio must
// hold exactly one ipc (test-cluster-fork-stdio.js, ERR_CHILD_PROCESS_IPC_REQUIRED).
TEST(Settings, CustomStdioWithExtraPipe) {
  setup_primary({.stdio = {Stdio::inherit(), Stdio::inherit(), Stdio::inherit(), Stdio::ipc(), Stdio::pipe()}});
  auto w = fork_role("extra_pipe");
  std::string got;
  ASSERT_NE(w->process().stdio(4), nullptr);
  w->process().stdio(4)->on(ev::data, [&](std::string_view d) { got += d; });
  run_loop();
  EXPECT_EQ(got, "via fd 4");
  setup_primary({.stdio = {Stdio::inherit(), Stdio::inherit(), Stdio::inherit()}});
  EXPECT_THROW(fork_role("report"), std::invalid_argument);
  setup_primary({.stdio = {Stdio::ipc(), Stdio::ipc()}});
  EXPECT_THROW(fork_role("report"), std::invalid_argument);
}

// Verifies the scheduling policy is frozen by the first setup_primary() or fork().
TEST(Settings, SchedulingPolicyFreezes) {
  EXPECT_EQ(scheduling_policy(), std::getenv("NODE_CLUSTER_SCHED_POLICY") ? scheduling_policy() : sched_rr);
  set_scheduling_policy(sched_none);
  EXPECT_EQ(scheduling_policy(), sched_none);
  EXPECT_THROW(set_scheduling_policy(7), std::invalid_argument);
  setup_primary();
  EXPECT_THROW(set_scheduling_policy(sched_rr), std::logic_error);
  EXPECT_EQ(scheduling_policy(), sched_none);
  run_loop();
}

// Verifies primary-only calls throw in a worker, and worker() throws in the primary.
TEST(Settings, RoleMisuseThrows) {
  EXPECT_THROW(worker(), std::logic_error);
  EXPECT_TRUE(is_primary());
  EXPECT_FALSE(is_worker());
  auto w = fork_role("misuse");
  MustCall got(1, "report");
  w->on(ev::message, [&](const Message& m) {
    got();
    EXPECT_NE(m["fork"].get<std::string>().find("only be called in the primary"), std::string::npos);
    EXPECT_EQ(m["setup_primary"], "threw");
    EXPECT_EQ(m["workers"], "threw");
    EXPECT_EQ(m["is_worker"], true);
    EXPECT_EQ(m["is_primary"], false);
  });
  run_loop();
}

// Verifies a missing executable: error ENOENT ("spawn <path>"), then disconnect, no exit, and
// the worker leaves workers(), as Node 20 does.
TEST(Settings, MissingExecReportsEnoent) {
  setup_primary({.exec = "/nonexistent/cppcluster-worker"});
  std::vector<std::string> log;
  auto w = cluster::fork();
  w->on(ev::error, [&](const std::system_error& e) {
    log.push_back("error " + err_name(e.code()));
    EXPECT_NE(std::string(e.what()).find("spawn /nonexistent/cppcluster-worker"), std::string::npos);
  });
  w->on(ev::disconnect, [&] { log.push_back("disconnect"); });
  w->on(ev::exit, [&] { log.push_back("exit"); });
  on(ev::fork, [&](Worker&) { log.push_back("fork"); });
  EXPECT_EQ(w->process().pid(), 0);
  run_loop();
  EXPECT_EQ(log, (std::vector<std::string>{"error ENOENT", "fork", "disconnect"}));
  EXPECT_TRUE(w->is_dead());
  EXPECT_EQ(w->process().exit_code(), std::optional<int>(-2));
  EXPECT_TRUE(workers().empty());
}

// Verifies uid/gid are applied to the worker (needs root to change them).
TEST(Settings, UidGidApplied) {
  if (getuid() != 0) GTEST_SKIP() << "changing uid needs root";
  struct stat st {};
  ASSERT_EQ(stat(self_exe().c_str(), &st), 0);
  setup_primary({.uid = 65534, .gid = 65534});
  auto w = fork_role("report");
  MustCall got(1, "report");
  w->on(ev::message, [&](const Message& m) {
    got();
    EXPECT_EQ(m["uid"], 65534);
    EXPECT_EQ(m["gid"], 65534);
  });
  w->on(ev::error, [&](const std::system_error& e) { ADD_FAILURE() << e.what(); });
  run_loop();
}

}  // namespace
