// Process tests of `cppcluster run`: a real supervisor runs tests/cppcluster/listen_fds_server.py
// (a plain Python server that takes its socket from LISTEN_FDS) as its workers, on a loopback
// port the kernel picks (--listen tcp://127.0.0.1:0, read back from the supervisor's log).
#include "http_get.hpp"
#include "run_helpers.hpp"
#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;

// One HTTP/1.0 GET on 127.0.0.1:port: the body, or "" on any failure.
std::string get(int port, const std::string& path = "/") {
  auto [code, body] = cppcluster_test::http_get(port, path);
  return code == 200 ? body : std::string();
}

// The "pid=" of an answer, or 0.
int pid_of(const std::string& answer) {
  std::smatch m;
  static const std::regex re("pid=(\\d+) listen_pid=(\\d+)");
  return std::regex_search(answer, m, re) ? std::stoi(m[1]) : 0;
}

// A supervisor over the Python server, with its output read line by line.
struct Supervisor {
  explicit Supervisor(std::vector<std::string> options, std::vector<std::pair<std::string, std::string>> env = {})
      : child(CPPCLUSTER_BIN, env, with_program(std::move(options))) {}

  static std::vector<std::string> with_program(std::vector<std::string> options) {
    options.insert(options.begin(), "run");
    options.insert(options.end(), {"--", PYTHON3, TEST_SERVER});
    return options;
  }
  // The port of the first --listen, from "listening on tcp://127.0.0.1:PORT".
  int port() {
    auto m = child.wait_for("listening on tcp://127\\.0\\.0\\.1:(\\d+)");
    return m.empty() ? 0 : std::stoi(m[1]);
  }
  // The pids of the first n workers the pool counted ready.
  std::set<int> ready_pids(std::size_t n, std::size_t from = 1) { return cppcluster_test::ready_pids(child, n, from); }
  void signal(int sig) { ::kill(child.pid(), sig); }

  Child child;
};

// Verifies that four workers share the socket: requests spread over their four pids, and each
// saw LISTEN_PID equal to its own pid, LISTEN_FDS=1 and the socket's name.
TEST(CppclusterRun, SpreadsRequestsOverWorkersWithTheirOwnListenPid) {
  Supervisor s({"--listen", "web=tcp://127.0.0.1:0", "--workers", "4"});
  const int port = s.port();
  ASSERT_GT(port, 0) << s.child.output();
  const auto ready = s.ready_pids(4);
  ASSERT_EQ(ready.size(), 4u) << s.child.output();
  const auto seen = cppcluster_test::pids_answering(port, 4);
  EXPECT_EQ(seen, ready) << s.child.output();
  for (int i = 0; i < 8; ++i) {
    const std::string a = get(port);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(a, m, std::regex("pid=(\\d+) listen_pid=(\\d+) fds=1 names=web worker=\\d+"))) << a;
    EXPECT_EQ(m[1], m[2]) << a;
  }
  s.signal(SIGTERM);
  const int status = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << s.child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child.output();
}

// Verifies that SIGHUP replaces every worker under continuous load without one failed request:
// the old workers exit 0 after their replacements are ready, and only new pids answer after.
TEST(CppclusterRun, HupReloadsUnderLoadWithoutAFailedRequest) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "4"});
  const int port = s.port();
  ASSERT_GT(port, 0) << s.child.output();
  const auto old_pids = s.ready_pids(4);
  ASSERT_EQ(old_pids.size(), 4u) << s.child.output();
  // --ready port counts a worker ready at its exec: wait until the programs serve (and handle
  // SIGTERM) before retiring them.
  ASSERT_FALSE(s.child.wait_for("\\] serving pid=", 4).empty()) << s.child.output();

  storm::Client client(port, "GET / HTTP/1.0\r\n\r\n", "listen_pid=", 4, 20s);
  client.start();
  for (int i = 0; i < 500 && client.counts().total() < 50; ++i) std::this_thread::sleep_for(10ms);
  s.signal(SIGHUP);
  ASSERT_FALSE(s.child.wait_for("reload done").empty()) << s.child.output();
  for (int pid : old_pids) {
    EXPECT_FALSE(s.child.wait_for("\\(pid " + std::to_string(pid) + "\\) exited with code 0").empty())
        << pid << s.child.output();
  }
  const auto before = client.counts().total();
  for (int i = 0; i < 500 && client.counts().total() < before + 50; ++i) std::this_thread::sleep_for(10ms);
  client.stop();
  const auto counts = client.counts();
  EXPECT_EQ(counts.failed(), 0u) << counts.summary() << s.child.output();
  EXPECT_GT(counts[storm::Outcome::ok], 100u) << counts.summary();

  const auto new_pids = s.ready_pids(4, 5);
  ASSERT_EQ(new_pids.size(), 4u) << s.child.output();
  for (int pid : new_pids) EXPECT_EQ(old_pids.count(pid), 0u);
  for (int i = 0; i < 20; ++i) {
    const int p = pid_of(get(port));
    EXPECT_EQ(new_pids.count(p), 1u) << "answered by " << p;
  }
  s.signal(SIGTERM);
  const int status = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child.output();
}

// Verifies that SIGTERM lets a slow request in flight complete, then the supervisor exits 0.
TEST(CppclusterRun, TermFinishesTheRequestInFlightThenExitsZero) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--graceful-timeout", "60s"});
  const int port = s.port();
  ASSERT_GT(port, 0) << s.child.output();
  ASSERT_EQ(s.ready_pids(2).size(), 2u) << s.child.output();
  ASSERT_FALSE(s.child.wait_for("\\] serving pid=", 2).empty()) << s.child.output();
  auto slow = std::async(std::launch::async, [port] { return get(port, "/slow?ms=1500"); });
  ASSERT_FALSE(s.child.wait_for("\\] slow start pid=").empty()) << s.child.output();
  s.signal(SIGTERM);
  const std::string answer = slow.get();
  EXPECT_NE(answer.find("listen_pid="), std::string::npos) << answer << s.child.output();
  const int status = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << s.child.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child.output();
  EXPECT_FALSE(s.child.wait_for("killed at the deadline", 1, 1s).size()) << s.child.output();
}

// Verifies that every bad option, address or value exits 2 with a message saying what is wrong,
// before anything is bound or started, and that --help reads like a man page.
TEST(CppclusterRun, BadOptionsExitTwoWithAMessage) {
  struct Case { std::vector<std::string> args; const char* says; };
  const std::vector<Case> cases = {
      {{"run", "--listen", "tcp://127.0.0.1", "--", "true"}, "no port"},
      {{"run", "--listen", "ftp://127.0.0.1:1", "--", "true"}, "expected tcp://HOST:PORT"},
      {{"run", "--listen", "tcp://[::1:80", "--", "true"}, "[IPV6]:PORT"},
      {{"run", "--workers", "0", "--", "true"}, "--workers"},
      {{"run", "--workers", "many", "--", "true"}, "--workers"},
      {{"run", "--bogus", "--", "true"}, "--bogus"},
      {{"run", "--ready", "maybe", "--", "true"}, "not port, notify or delay:MS"},
      {{"run", "--graceful-timeout", "3x", "--", "true"}, "bad duration"},
      {{"run", "--stop-signal", "NOPE", "--", "true"}, "is not a signal"},
      {{"run", "--listen", "tcp://127.0.0.1:0"}, "no PROGRAM"},
      {{"run", "--", "/nonexistent/program"}, "no such executable"},
      {{"frobnicate"}, "frobnicate"},
      {{"status"}, "no control socket"},
      {{"scale", "--control", "/nonexistent"}, "N is required"},
      {{}, "no command"},
  };
  for (const auto& c : cases) {
    Child child(CPPCLUSTER_BIN, {}, c.args);
    const int status = child.wait_exit(30s);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    ASSERT_TRUE(WIFEXITED(status)) << joined;
    EXPECT_EQ(WEXITSTATUS(status), 2) << joined << child.output();
    // Waited for: the reader thread may not have read the last line when the exit is seen.
    const std::string says = std::regex_replace(c.says, std::regex(R"([\[\]().*+?^$|{}\\])"), R"(\$&)");
    EXPECT_FALSE(child.wait_for(says, 1, 10s).empty()) << joined << child.output();
  }
  Child help(CPPCLUSTER_BIN, {}, {"run", "--help"});
  ASSERT_FALSE(help.wait_for("^EXAMPLES$", 1, 30s).empty()) << help.output();
  ASSERT_FALSE(help.wait_for("kill -HUP", 1, 30s).empty()) << help.output();
  const int status = help.wait_exit(30s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (const char* section : {"--listen", "SIGNALS", "EXIT STATUS", "EXAMPLES", "LISTEN_PID"}) {
    EXPECT_NE(help.output().find(section), std::string::npos) << section << help.output();
  }
}

// Verifies that a taken port is a clear runtime failure: exit 1 and the address named.
TEST(CppclusterRun, TakenPortExitsOneNamingTheAddress) {
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
  ASSERT_EQ(::listen(holder, 4), 0);
  socklen_t len = sizeof in;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&in), &len);
  const std::string addr = "tcp://127.0.0.1:" + std::to_string(ntohs(in.sin_port));
  Child child(CPPCLUSTER_BIN, {}, {"run", "--listen", addr, "--", "true"});
  const auto said = child.wait_for("cannot listen on " + std::regex_replace(addr, std::regex(R"([.])"), R"(\.)"), 1, 30s);
  const int status = child.wait_exit(30s);
  ::close(holder);
  EXPECT_FALSE(said.empty()) << child.output();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << child.output();
  EXPECT_NE(child.output().find("cannot listen on " + addr), std::string::npos) << child.output();
}

// A temp dir holding the file the Python server reads its readiness mode from.
struct ModeFile {
  ModeFile() {
    std::string t = (std::filesystem::temp_directory_path() / "cppcluster-test-XXXXXX").string();
    dir = ::mkdtemp(t.data());
    path = dir + "/ready-mode";
  }
  ~ModeFile() { std::filesystem::remove_all(dir); }
  void set(const std::string& mode) const { std::ofstream(path) << mode << "\n"; }
  std::string dir, path;
};

// Verifies --ready notify with a worker that sends READY=1 late: the supervisor relays its
// STATUS= before it counts it ready, and a reload retires an old worker only after that.
TEST(CppclusterRun, NotifyReadyLateHoldsTheReloadUntilReady) {
  ModeFile mode;
  mode.set("now");
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "1", "--ready", "notify"},
               {{"READY_MODE_FILE", mode.path}});
  ASSERT_GT(s.port(), 0) << s.child.output();
  const auto old_pids = s.ready_pids(1);
  ASSERT_EQ(old_pids.size(), 1u) << s.child.output();
  const int old_pid = *old_pids.begin();
  mode.set("late:1500");
  s.signal(SIGHUP);
  auto status_line = s.child.wait_for("worker (\\d+) \\(pid (\\d+)\\) status: warming up");
  ASSERT_FALSE(status_line.empty()) << s.child.output();
  const std::string new_pid = status_line[2];
  ASSERT_FALSE(s.child.wait_for("reload done").empty()) << s.child.output();
  // The supervisor writes its own lines in the order it saw the events.
  const std::string out = s.child.output();
  const auto warming = out.find("(pid " + new_pid + ") status: warming up");
  const auto ready = out.find("(pid " + new_pid + ") ready");
  const auto retiring = out.find("(pid " + std::to_string(old_pid) + ") retiring");
  ASSERT_NE(ready, std::string::npos) << out;
  ASSERT_NE(retiring, std::string::npos) << out;
  EXPECT_LT(warming, ready) << out;
  EXPECT_LT(ready, retiring) << out;
  s.signal(SIGTERM);
  const int st = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << s.child.output();
}

// Verifies --ready notify with a replacement that never sends READY=1: it is killed at
// --ready-timeout, the reload fails, and the old workers stay and keep answering.
TEST(CppclusterRun, NeverReadyReplacementStopsTheReloadOldWorkersStay) {
  ModeFile mode;
  mode.set("now");
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "2", "--ready", "notify", "--ready-timeout", "5s"},
               {{"READY_MODE_FILE", mode.path}});
  const int port = s.port();
  ASSERT_GT(port, 0) << s.child.output();
  const auto old_pids = s.ready_pids(2);
  ASSERT_EQ(old_pids.size(), 2u) << s.child.output();
  mode.set("never");
  s.signal(SIGHUP);
  ASSERT_FALSE(s.child.wait_for("reload failed").empty()) << s.child.output();
  EXPECT_EQ(s.child.output().find("retiring"), std::string::npos) << s.child.output();
  for (int i = 0; i < 20; ++i) {
    const int p = pid_of(get(port));
    EXPECT_EQ(old_pids.count(p), 1u) << "answered by " << p << s.child.output();
  }
  s.signal(SIGTERM);
  const int st = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << s.child.output();
}

// Verifies that two chatty workers' lines (2 kB each, stdout and stderr) reach the supervisor's
// output whole and prefixed with their own id and pid, never two in one line.
TEST(CppclusterRun, WorkerLinesArePrefixedAndNeverInterleaved) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "2"}, {{"CHATTY", "200"}});
  ASSERT_GT(s.port(), 0) << s.child.output();
  ASSERT_EQ(s.ready_pids(2).size(), 2u) << s.child.output();
  // 200 lines x 2 streams x 2 workers.
  ASSERT_FALSE(s.child.wait_for("chatty-", 800).empty()) << "fewer chatty lines than written";
  s.signal(SIGTERM);
  s.child.wait_exit(60s);
  const std::regex whole("^\\[w(\\d+) (\\d+)\\] chatty-(\\d+)-(\\d+)-x{2000}$");
  std::size_t checked = 0;
  std::istringstream in(s.child.output());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  | ", 0) == 0) line.erase(0, 4);
    if (line.find("chatty-") == std::string::npos) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, whole)) << line.substr(0, 120);
    EXPECT_EQ(m[2], m[3]) << "a line of pid " << m[3] << " under pid " << m[2];
    ++checked;
  }
  EXPECT_EQ(checked, 800u);
}

}  // namespace

// True while pid names a process that is not a zombie (a dead orphan may wait for its reaper).
bool alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Verifies that a SIGKILLed supervisor leaves no worker running: each program had
// PR_SET_PDEATHSIG set to SIGTERM before its exec, and all of them end within a bounded wait.
TEST(CppclusterRun, SigkilledSupervisorLeavesNoWorkerRunning) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--workers", "2"});
  ASSERT_GT(s.port(), 0) << s.child.output();
  const auto pids = s.ready_pids(2);
  ASSERT_EQ(pids.size(), 2u) << s.child.output();
  ASSERT_FALSE(s.child.wait_for("\\] serving pid=", 2).empty()) << s.child.output();
  for (int pid : pids) ASSERT_TRUE(alive(pid)) << pid;
  s.signal(SIGKILL);
  const int status = s.child.wait_exit(60s);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  std::set<int> left = pids;
  for (int i = 0; i < 3000 && !left.empty(); ++i) {  // at most 30 s
    std::erase_if(left, [](int pid) { return !alive(pid); });
    if (!left.empty()) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " workers outlived the supervisor";
  for (int pid : left) ::kill(pid, SIGKILL);
}
