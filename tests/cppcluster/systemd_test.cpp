// Process tests of the supervisor as a systemd Type=notify service: the test plays systemd,
// binding a Unix datagram socket in a mkdtemp directory and passing it as NOTIFY_SOCKET.
#include "support/child_lines.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_get.hpp"
#include "run_helpers.hpp"

#include <filesystem>
#include <future>
#include <set>
#include <regex>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;

// systemd's end of NOTIFY_SOCKET: a datagram socket bound in a fresh directory.
struct FakeSystemd {
  FakeSystemd() {
    std::string t = (std::filesystem::temp_directory_path() / "cppcluster-sd-XXXXXX").string();
    if (!::mkdtemp(t.data())) return;
    dir = t;
    path = dir + "/notify";
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path.copy(a.sun_path, sizeof a.sun_path - 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) path.clear();
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~FakeSystemd() {
    ::close(fd);
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
  // The next datagram holding pattern (at most 60 one-second waits); every datagram read on the
  // way goes to seen. Empty when none came.
  std::string next(const std::string& pattern) {
    const std::regex re(pattern);
    for (int i = 0; i < 600; ++i) {
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (++idle >= 60) return {};
        continue;
      }
      idle = 0;
      std::string m(buf, static_cast<std::size_t>(n));
      seen.push_back(m);
      if (std::regex_search(m, re)) return m;
    }
    return {};
  }
  int count(const std::string& exact) const {
    int n = 0;
    for (const auto& m : seen) n += m == exact;
    return n;
  }
  std::string dir, path;
  int fd = -1;
  int idle = 0;
  std::vector<std::string> seen;
};

std::vector<std::string> run_args(const std::string& workers) {
  return {"run", "--listen", "tcp://127.0.0.1:0", "--workers", workers, "--min-ready", workers,
          "--", PYTHON3, TEST_SERVER};
}

// Verifies the service protocol end to end: READY=1 only once both workers are ready (its
// STATUS says 2 of 2), WATCHDOG=1 pings from WATCHDOG_USEC, on SIGHUP RELOADING=1 with a
// MONOTONIC_USEC then READY=1 after the reload, on SIGTERM STOPPING=1 and exit 0; and that
// the workers' programs do not see the supervisor's NOTIFY_SOCKET.
TEST(CppclusterSystemd, ReadyReloadingStoppingWatchdogStatus) {
  FakeSystemd sd;
  ASSERT_FALSE(sd.path.empty());
  Child sup(CPPCLUSTER_BIN, {{"NOTIFY_SOCKET", sd.path}, {"WATCHDOG_USEC", "400000"}}, run_args("2"));
  const std::string ready = sd.next("READY=1");
  ASSERT_FALSE(ready.empty()) << sup.output();
  EXPECT_NE(ready.find("STATUS=2 of 2 workers ready"), std::string::npos) << ready;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(sd.next("^WATCHDOG=1$").empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("systemd watchdog: WATCHDOG=1 every 200 ms").empty()) << sup.output();

  ASSERT_FALSE(sup.wait_for("\\] serving pid=", 2).empty()) << sup.output();
  ::kill(sup.pid(), SIGHUP);
  const std::string reloading = sd.next("RELOADING=1");
  ASSERT_FALSE(reloading.empty()) << sup.output();
  EXPECT_TRUE(std::regex_search(reloading, std::regex("^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$"))) << reloading;
  const std::string again = sd.next("READY=1");
  ASSERT_FALSE(again.empty()) << sup.output();
  EXPECT_FALSE(sup.wait_for("reload done").empty()) << sup.output();
  EXPECT_NE(again.find("workers ready"), std::string::npos) << again;

  ::kill(sup.pid(), SIGTERM);
  EXPECT_FALSE(sd.next("^STOPPING=1$").empty()) << sup.output();
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
  // The Python server sends a bare READY=1 at start when it sees a NOTIFY_SOCKET; the
  // supervisor's READY=1 always carries a STATUS. None bare: the workers did not see it.
  EXPECT_EQ(sd.count("READY=1"), 0) << "a worker notified the supervisor's NOTIFY_SOCKET";
}

// Verifies that a WATCHDOG_PID naming another process turns the pings off (the watchdog is not
// the supervisor's), while READY=1 is still sent; and that without NOTIFY_SOCKET nothing breaks.
TEST(CppclusterSystemd, WatchdogPidOfAnotherProcessMeansNoPings) {
  FakeSystemd sd;
  ASSERT_FALSE(sd.path.empty());
  Child sup(CPPCLUSTER_BIN, {{"NOTIFY_SOCKET", sd.path}, {"WATCHDOG_USEC", "200000"}, {"WATCHDOG_PID", "1"}},
            run_args("1"));
  ASSERT_FALSE(sd.next("READY=1").empty()) << sup.output();
  ::kill(sup.pid(), SIGTERM);
  EXPECT_FALSE(sd.next("^STOPPING=1$").empty()) << sup.output();
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
  EXPECT_EQ(sd.count("WATCHDOG=1"), 0);
  EXPECT_TRUE(sup.wait_for("systemd watchdog", 1, 1s).empty()) << sup.output();
}

// Verifies socket activation of the supervisor itself: started as systemd would start it (a
// listening socket at fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=web, LISTEN_PID its own pid; a small
// Python launcher plays systemd's exec), it binds nothing, ignores --listen, and its workers
// serve that socket, each with LISTEN_PID set to its own pid and the name web.
TEST(CppclusterSystemd, SocketActivatedSupervisorServesSystemdsSocket) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);  // inheritable, as systemd passes it
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
  ASSERT_EQ(::listen(lfd, 64), 0);
  socklen_t len = sizeof in;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&in), &len);
  const int port = ntohs(in.sin_port);
  const std::string launcher =
      "import os, sys\n"
      "fd = int(sys.argv[1])\n"
      "if fd != 3:\n"
      "    os.dup2(fd, 3)\n"
      "    os.close(fd)\n"
      "os.environ.update(LISTEN_FDS='1', LISTEN_FDNAMES='web', LISTEN_PID=str(os.getpid()))\n"
      "os.execv(sys.argv[2], sys.argv[2:])\n";
  Child sup(PYTHON3, {}, {"-c", launcher, std::to_string(lfd), CPPCLUSTER_BIN, "run", "--listen",
                          "tcp://127.0.0.1:1", "--workers", "2", "--", PYTHON3, TEST_SERVER});
  ::close(lfd);  // the supervisor holds it now
  ASSERT_FALSE(sup.wait_for("listening on tcp://127\\.0\\.0\\.1:" + std::to_string(port) + " \\(web, from systemd\\)").empty())
      << sup.output();
  EXPECT_FALSE(sup.wait_for("--listen ignored").empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=", 2).empty()) << sup.output();
  // Concurrent slow requests, so that both workers take some (at most 50 rounds of 8).
  const auto pids = cppcluster_test::pids_answering(port, 2, 50, 50, [&](int code, const std::string& body) {
    ASSERT_EQ(code, 200) << body << sup.output();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(body, m, std::regex("pid=(\\d+) listen_pid=(\\d+) fds=1 names=web "))) << body;
    EXPECT_EQ(m[1], m[2]) << body;
  });
  EXPECT_EQ(pids.size(), 2u) << "requests reached " << pids.size() << " workers";
  ::kill(sup.pid(), SIGTERM);
  const int status = sup.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << sup.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << sup.output();
}

}  // namespace
