// Process tests of the control socket: `cppcluster run --control PATH` over the Python server,
// driven by `cppcluster status|reload|scale|stop` as an operator would, in a mkdtemp directory.
#include "cli_support.hpp"
#include "support/child_lines.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;

std::vector<std::string> run_args(const std::string& control, const std::string& workers) {
  return {"run", "--control", control, "--listen", "tcp://127.0.0.1:0", "--workers", workers,
          "--", PYTHON3, TEST_SERVER};
}

// Runs `cppcluster args...`, waits for a line matching pattern then for the exit: the line's
// match (empty if none came) and the exit code (-1 unless it exited normally).
std::pair<std::string, int> cli(const std::vector<std::string>& args, const std::string& pattern) {
  Child c(CPPCLUSTER_BIN, {}, args);
  auto m = c.wait_for(pattern, 1, 30s);
  const int status = c.wait_exit(30s);
  return {m.empty() ? std::string() : m[0] + "\n" + c.output(), WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// `cppcluster status --json`, parsed (null on failure).
nlohmann::json status_json(const std::string& control) {
  Child c(CPPCLUSTER_BIN, {}, {"status", "--json", "--control", control});
  auto m = c.wait_for("^\\{.*\\}$", 1, 30s);
  const int status = c.wait_exit(30s);
  if (m.empty() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return nullptr;
  return nlohmann::json::parse(m[0], nullptr, false);
}

std::set<int> pids(const nlohmann::json& st) {
  std::set<int> out;
  for (const auto& w : st["workers"]) out.insert(w["pid"].get<int>());
  return out;
}

// Verifies that the control socket is a 0600 socket, that status (table and --json) shows the
// ready workers, scale N changes their number, reload replaces every pid, stop ends the
// supervisor with exit 0 and removes the socket.
TEST(CppclusterControl, StatusScaleReloadStop) {
  cppcluster_test::TempDir dir{"cppcluster-ctl"};
  ASSERT_FALSE(dir.path.empty());
  const std::string sock = dir.path + "/control.sock";
  Child sup(CPPCLUSTER_BIN, {}, run_args(sock, "2"));
  ASSERT_FALSE(sup.wait_for("control socket on ").empty()) << sup.output();
  struct stat sb{};
  ASSERT_EQ(::stat(sock.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  ASSERT_FALSE(sup.wait_for("worker \\d+ \\(pid \\d+\\) ready", 2).empty()) << sup.output();

  const auto first = status_json(sock);
  ASSERT_TRUE(first.is_object()) << sup.output();
  EXPECT_EQ(first["target"], 2);
  EXPECT_EQ(first["ready"], 2);
  ASSERT_EQ(first["workers"].size(), 2u) << first.dump();
  for (const auto& w : first["workers"]) {
    EXPECT_EQ(w["state"], "ready");
    EXPECT_EQ(w["connections"], 0) << "counted from /proc for a plain program: none open";
  }
  const int pid1 = first["workers"][0]["pid"];
  auto [table, code] = cli({"status", "--control", sock}, "^ID +PID +STATE +UPTIME +RESTARTS +CONNECTIONS +RSS +CPU$");
  EXPECT_EQ(code, 0);
  EXPECT_NE(table.find("2 workers, 2 ready, target 2"), std::string::npos) << table;
  EXPECT_NE(table.find(" " + std::to_string(pid1) + " "), std::string::npos) << table;

  auto [scaled, scode] = cli({"scale", "3", "--control", sock}, "^3 workers$");
  EXPECT_EQ(scode, 0) << scaled;
  ASSERT_FALSE(sup.wait_for("worker \\d+ \\(pid \\d+\\) ready", 3).empty()) << sup.output();
  const auto three = status_json(sock);
  EXPECT_EQ(three["target"], 3) << three.dump();
  EXPECT_EQ(three["workers"].size(), 3u) << three.dump();

  // The programs serve (and so handle SIGTERM) before a reload retires them.
  ASSERT_FALSE(sup.wait_for("\\] serving pid=", 3).empty()) << sup.output();
  auto [reloading, rcode] = cli({"reload", "--control", sock}, "^reloading 3 workers$");
  EXPECT_EQ(rcode, 0) << reloading;
  ASSERT_FALSE(sup.wait_for("reload done").empty()) << sup.output();
  // The old workers are listed as retiring until they exit.
  ASSERT_FALSE(sup.wait_for("\\(pid \\d+\\) exited with code 0", 3).empty()) << sup.output();
  const auto after = status_json(sock);
  ASSERT_EQ(after["workers"].size(), 3u) << after.dump();
  for (int pid : pids(after)) EXPECT_EQ(pids(three).count(pid), 0u) << pid << " survived the reload";

  auto [stopping, stcode] = cli({"stop", "--control", sock}, "^stopping$");
  EXPECT_EQ(stcode, 0) << stopping;
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
  EXPECT_FALSE(std::filesystem::exists(sock));
}

// Verifies that every control command exits 1 naming the path when nothing listens there (no
// file, or a stale socket file), and 2 when no path is given at all.
TEST(CppclusterControl, CommandsFailClearlyWhenNothingListens) {
  cppcluster_test::TempDir dir{"cppcluster-ctl"};
  ASSERT_FALSE(dir.path.empty());
  const std::string missing = dir.path + "/none.sock";
  const std::string stale = dir.path + "/stale.sock";
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    stale.copy(a.sun_path, sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);  // the file stays, nobody listens
  }
  for (const std::string& path : {missing, stale}) {
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{{"status"}, {"status", "--json"}, {"reload"}, {"scale", "2"}, {"stop"}}) {
      args.insert(args.end(), {"--control", path});
      auto [out, code] = cli(args, "nothing listens there");
      EXPECT_EQ(code, 1) << args.front() << " " << path << out;
      EXPECT_NE(out.find(path), std::string::npos) << out;
    }
  }
  auto [out, code] = cli({"status"}, "no control socket");
  EXPECT_EQ(code, 2) << out;
  auto [bad, bcode] = cli({"scale", "0", "--control", missing}, "N");
  EXPECT_EQ(bcode, 2) << bad;
}

// Verifies that a stale socket left by a killed supervisor is replaced, while a second
// supervisor on a live one exits 1 saying another supervisor listens there.
TEST(CppclusterControl, StaleSocketReplacedLiveOneRefused) {
  cppcluster_test::TempDir dir{"cppcluster-ctl"};
  ASSERT_FALSE(dir.path.empty());
  const std::string sock = dir.path + "/control.sock";
  {
    Child killed(CPPCLUSTER_BIN, {}, run_args(sock, "1"));
    ASSERT_FALSE(killed.wait_for("control socket on ").empty()) << killed.output();
    ::kill(killed.pid(), SIGKILL);
    killed.wait_exit(30s);
  }
  ASSERT_TRUE(std::filesystem::exists(sock)) << "SIGKILL leaves the socket file";
  Child sup(CPPCLUSTER_BIN, {}, run_args(sock, "1"));
  ASSERT_FALSE(sup.wait_for("control socket on ").empty()) << sup.output();
  auto [out, code] = cli(run_args(sock, "1"), "another supervisor listens there");
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(status_json(sock).is_object());
  ::kill(sup.pid(), SIGTERM);
  const int status = sup.wait_exit(60s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << sup.output();
}

}  // namespace
