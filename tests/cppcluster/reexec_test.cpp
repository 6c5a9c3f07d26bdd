// Process tests of the supervisor's upgrade in place (SIGUSR2, `cppcluster upgrade`): it execve()s
// the binary found at the path it was started from (here a copy in a temp dir, replaced by a new
// file before the upgrade), keeps its pid and sockets, starts new workers and retires the old ones
// once those are ready, under continuous load, without one failed request; its admin endpoint and
// control socket, probed all along, never refuse one; the old workers' last lines go to the
// --log-file as JSON.
#include "cli_support.hpp"
#include "http_get.hpp"
#include "run_helpers.hpp"
#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;
using cppcluster_test::alive;
using cppcluster_test::ready_pids;

ino_t inode_of(const std::string& path) {
  struct stat sb {};
  return ::stat(path.c_str(), &sb) == 0 ? sb.st_ino : 0;
}

// Copies the cppcluster binary to path through a new file renamed over it (a deploy's way): a
// new inode at the same path.
void install_binary(const std::string& path) {
  std::filesystem::copy_file(CPPCLUSTER_BIN, path + ".new", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(path + ".new", std::filesystem::perms::owner_all);
  std::filesystem::rename(path + ".new", path);
}

// One GET /healthz on a connection to the address a: 200, 0 when the answer is not one, or
// -errno when the connection itself fails.
int healthz(const sockaddr* a, socklen_t len) {
  const int fd = ::socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, a, len) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  const std::string req = "GET /healthz HTTP/1.0\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[1024];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out.rfind("HTTP/1.1 200 ", 0) == 0 ? 200 : 0;
}

// GET /healthz on the admin port and on the control socket, one after the other, on a thread
// until stop() (or 10 minutes): how many answered 200, were refused (ECONNREFUSED, or ENOENT
// for a socket file gone), or failed otherwise.
class HealthProbe {
 public:
  HealthProbe(int port, const std::string& control) {
    tcp_.sin_family = AF_INET;
    tcp_.sin_port = htons(static_cast<std::uint16_t>(port));
    tcp_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unix_.sun_family = AF_UNIX;
    control.copy(unix_.sun_path, sizeof unix_.sun_path - 1);
    thread_ = std::thread([this] {
      const auto end = std::chrono::steady_clock::now() + 10min;
      while (!stop_ && std::chrono::steady_clock::now() < end) {
        count(healthz(reinterpret_cast<const sockaddr*>(&tcp_), sizeof tcp_));
        count(healthz(reinterpret_cast<const sockaddr*>(&unix_), sizeof unix_));
      }
    });
  }
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;
  ~HealthProbe() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::string summary() const {
    return std::to_string(ok) + " ok, " + std::to_string(refused) + " refused, " + std::to_string(failed) + " failed";
  }
  std::atomic<unsigned> ok{0}, refused{0}, failed{0};

 private:
  void count(int r) {
    if (r == 200) {
      ++ok;
    } else if (r == -ECONNREFUSED || r == -ENOENT) {
      ++refused;
    } else {
      ++failed;
    }
  }
  sockaddr_in tcp_{};
  sockaddr_un unix_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Upgrades a supervisor of `options` twice under load (SIGUSR2, then `cppcluster upgrade` on the
// control socket), each time checking: same pid, the binary now running is the file at the path
// (replaced before the first upgrade), new workers answer, the old ones are gone (reaped), the
// control socket answers, the admin endpoint and the control socket were kept; then the load's
// count: zero failed, and that of /healthz probed all along on both: zero refused or failed.
void upgrade_under_load(std::vector<std::string> options, int workers) {
  cppcluster_test::TempDir dir{"cppcluster-up"};
  ASSERT_FALSE(dir.path.empty());
  const std::string bin = dir.path + "/cppcluster";
  const std::string control = dir.path + "/control.sock";
  install_binary(bin);
  std::vector<std::string> args{"run", "--listen", "tcp://127.0.0.1:0", "--workers", std::to_string(workers),
                                "--control", control, "--admin", "127.0.0.1:0"};
  args.insert(args.end(), options.begin(), options.end());
  args.insert(args.end(), {"--", PYTHON3, TEST_SERVER});
  Child sup(bin, {}, args);
  auto listening = sup.wait_for("listening on tcp://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_FALSE(listening.empty()) << sup.output();
  const int port = std::stoi(listening[1]);
  auto admin = sup.wait_for("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_FALSE(admin.empty()) << sup.output();
  const std::string admin_port = admin[1];
  auto generation = ready_pids(sup, workers);
  ASSERT_EQ(generation.size(), static_cast<std::size_t>(workers)) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=", workers).empty()) << sup.output();

  storm::Client client(port, "GET / HTTP/1.0\r\n\r\n", "listen_pid=", 16, 20s);
  client.start();
  HealthProbe probe(std::stoi(admin_port), control);
  for (int i = 0; i < 500 && client.counts().total() < 100; ++i) std::this_thread::sleep_for(10ms);

  install_binary(bin);  // the deploy: a new file at the path
  const ino_t deployed = inode_of(bin);
  std::size_t served = static_cast<std::size_t>(workers);
  for (int round = 1; round <= 2; ++round) {
    if (round == 1) {
      ::kill(sup.pid(), SIGUSR2);
    } else {
      Child up(CPPCLUSTER_BIN, {}, {"upgrade", "--control", control});
      EXPECT_FALSE(up.wait_for("re-executing .* in place \\(pid " + std::to_string(sup.pid()) + "\\)", 1, 30s).empty())
          << up.output();
      const int st = up.wait_exit(30s);
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << up.output();
    }
    ASSERT_FALSE(sup.wait_for("re-executed in place \\(pid " + std::to_string(sup.pid()) + "\\)", round).empty())
        << sup.output();
    ASSERT_FALSE(sup.wait_for("upgrade done: the previous workers are gone", round).empty()) << sup.output();
    EXPECT_FALSE(sup.wait_for("admin on http://127\\.0\\.0\\.1:" + admin_port + " \\(kept across the re-exec\\)", round).empty())
        << sup.output();
    EXPECT_FALSE(sup.wait_for("control socket on " + control + " \\(kept across the re-exec\\)", round).empty())
        << sup.output();
    EXPECT_EQ(inode_of("/proc/" + std::to_string(sup.pid()) + "/exe"), deployed) << "not the deployed binary";
    const auto next = ready_pids(sup, workers, served + 1);
    served += static_cast<std::size_t>(workers);
    ASSERT_EQ(next.size(), static_cast<std::size_t>(workers)) << sup.output();
    for (int pid : generation) {
      EXPECT_FALSE(sup.wait_for("previous worker \\d+ \\(pid " + std::to_string(pid) + "\\) exited with code 0").empty())
          << pid << sup.output();
      EXPECT_FALSE(alive(pid)) << pid << " outlived the upgrade";
      EXPECT_EQ(next.count(pid), 0u);
    }
    for (int i = 0; i < 12; ++i) {
      std::smatch m;
      const std::string body = cppcluster_test::http_get(port, "/").second;
      ASSERT_TRUE(std::regex_search(body, m, std::regex("pid=(\\d+)"))) << body << sup.output();
      EXPECT_EQ(next.count(std::stoi(m[1])), 1u) << "answered by " << m[1];
    }
    Child status(CPPCLUSTER_BIN, {}, {"status", "--json", "--control", control});
    const auto line = status.wait_for("^\\{.*\\}$", 1, 30s);
    ASSERT_FALSE(line.empty()) << status.output() << sup.output();
    const auto j = nlohmann::json::parse(line[0]);
    EXPECT_EQ(j["workers"].size(), static_cast<std::size_t>(workers)) << line[0];
    status.wait_exit(30s);
    generation = next;
    const auto before = client.counts().total();
    for (int i = 0; i < 500 && client.counts().total() < before + 100; ++i) std::this_thread::sleep_for(10ms);
  }
  client.stop();
  probe.stop();
  EXPECT_EQ(probe.refused, 0u) << probe.summary() << sup.output();
  EXPECT_EQ(probe.failed, 0u) << probe.summary() << sup.output();
  EXPECT_GT(probe.ok, 100u) << probe.summary();
  const auto counts = client.counts();
  EXPECT_EQ(counts.failed(), 0u) << counts.summary() << sup.output();
  EXPECT_GT(counts[storm::Outcome::ok], 300u) << counts.summary();
  ::kill(sup.pid(), SIGTERM);
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
}

// Verifies the upgrade in place with the workers sharing the supervisor's socket.
TEST(CppclusterUpgrade, ReexecUnderLoadSharedSocket) { upgrade_under_load({}, 2); }

// Verifies the upgrade in place with --reuseport: the groups' members cross the exec, and each
// old worker is drained before its SIGTERM.
TEST(CppclusterUpgrade, ReexecUnderLoadReuseport) { upgrade_under_load({"--reuseport"}, 2); }

// Verifies that an upgrade whose exec fails (the binary removed from its path) leaves the
// supervisor serving: the admin endpoint and the control socket it had handed over answer again
// on the same port and path, and a stop still exits 0.
TEST(CppclusterUpgrade, FailedExecServesTheAdminSocketsAgain) {
  cppcluster_test::TempDir dir{"cppcluster-up"};
  ASSERT_FALSE(dir.path.empty());
  const std::string bin = dir.path + "/cppcluster";
  const std::string control = dir.path + "/control.sock";
  install_binary(bin);
  Child sup(bin, {}, {"run", "--listen", "tcp://127.0.0.1:0", "--workers", "1", "--control", control, "--admin",
                      "127.0.0.1:0", "--", PYTHON3, TEST_SERVER});
  auto admin = sup.wait_for("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_FALSE(admin.empty()) << sup.output();
  ASSERT_EQ(ready_pids(sup, 1).size(), 1u) << sup.output();
  std::filesystem::remove(bin);
  ::kill(sup.pid(), SIGUSR2);
  ASSERT_FALSE(sup.wait_for("re-exec of .* failed: No such file or directory; this image keeps running").empty())
      << sup.output();
  EXPECT_FALSE(sup.wait_for("admin on http://127\\.0\\.0\\.1:" + admin[1] + " \\(served again, not upgraded\\)").empty())
      << sup.output();
  EXPECT_FALSE(sup.wait_for("control socket on .* \\(served again, not upgraded\\)").empty()) << sup.output();
  EXPECT_EQ(cppcluster_test::http_get(std::stoi(admin[1]), "/healthz").first, 200) << sup.output();
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  control.copy(un.sun_path, sizeof un.sun_path - 1);
  EXPECT_EQ(healthz(reinterpret_cast<const sockaddr*>(&un), sizeof un), 200) << sup.output();
  EXPECT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();
  EXPECT_FALSE(std::filesystem::exists(control));
}

// Verifies that with --log-file and --log-format json the old workers' lines written after the
// re-exec (the test server's "stopped pid=P" as it retires) land in the file as JSON lines of
// theirs, as the new workers' do, and that nothing goes to the terminal.
TEST(CppclusterUpgrade, OldWorkersLogThroughTheLogFileAsJson) {
  cppcluster_test::TempDir dir{"cppcluster-up"};
  ASSERT_FALSE(dir.path.empty());
  const std::string log = dir.path + "/app.json";
  Child sup(CPPCLUSTER_BIN, {},
            {"run", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--log-file", log, "--log-format", "json",
             "--", PYTHON3, TEST_SERVER});
  const auto count = [](const std::vector<std::string>& lines, const std::string& what) {
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  ASSERT_TRUE(cppcluster_test::wait_file(log, [&](const auto& l) { return count(l, "\"line\":\"serving pid=") >= 2; }))
      << sup.output();
  std::set<int> old_pids;
  for (const auto& text : cppcluster_test::file_lines(log)) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.value("line", "").rfind("serving pid=", 0) == 0) old_pids.insert(j.at("pid").get<int>());
  }
  ASSERT_EQ(old_pids.size(), 2u);
  ::kill(sup.pid(), SIGUSR2);
  ASSERT_TRUE(cppcluster_test::wait_file(log, [&](const auto& l) { return count(l, "upgrade done: the previous workers are gone") >= 1; }))
      << sup.output();
  ASSERT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();

  bool reexecuted = false;
  std::set<int> stopped_after;
  for (const auto& text : cppcluster_test::file_lines(log)) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object: " << text;
    const std::string line = j.at("line").get<std::string>();
    if (j.at("source") == "cppcluster") {
      reexecuted = reexecuted || line.rfind("re-executed in place", 0) == 0;
      continue;
    }
    const int pid = j.at("pid").get<int>();
    if (reexecuted && old_pids.count(pid) && line == "stopped pid=" + std::to_string(pid)) {
      EXPECT_TRUE(j.at("worker").is_number_integer()) << text;
      EXPECT_EQ(j.at("stream"), "stdout") << text;
      stopped_after.insert(pid);
    }
  }
  EXPECT_TRUE(reexecuted);
  EXPECT_EQ(stopped_after, old_pids) << "the old workers' last lines are not in " << log;
  EXPECT_EQ(sup.output().find("[w"), std::string::npos) << sup.output();
}

}  // namespace
