// Process tests of `cppcluster run --reuseport`: each worker of tests/cppcluster/listen_fds_server.py
// gets its own SO_REUSEPORT socket at fd 3 (a TCP placeholder in the supervisor keeps the port
// without listening); requests spread over them, a reload under load loses none (the retiring
// worker is drained before it is told to stop), UDP works and unix: is refused.
#include "http_get.hpp"
#include "run_helpers.hpp"
#include "support/child_lines.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;
using cppcluster_test::ready_pids;

std::vector<std::string> run_args(std::vector<std::string> options, std::vector<std::string> program = {}) {
  options.insert(options.begin(), "run");
  options.push_back("--");
  if (program.empty()) program = {PYTHON3, TEST_SERVER};
  options.insert(options.end(), program.begin(), program.end());
  return options;
}

int port_of(Child& c, const std::string& scheme = "tcp") {
  auto m = c.wait_for("listening on " + scheme + "://127\\.0\\.0\\.1:(\\d+) .*reuseport");
  return m.empty() ? 0 : std::stoi(m[1]);
}

// "socket:[INODE]" of fd in process pid, or "".
std::string socket_of(int pid, int fd) {
  char buf[128];
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// "socket:[INODE]" of every listening TCP socket on port (/proc/net/tcp, state 0A).
std::set<std::string> listening_on(int port) {
  std::set<std::string> out;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
    f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    const auto colon = local.find(':');
    if (state != "0A" || colon == std::string::npos) continue;
    if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) out.insert("socket:[" + inode + "]");
  }
  return out;
}

void stop_and_expect_zero(Child& c) {
  ::kill(c.pid(), SIGTERM);
  const int status = c.wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << status << c.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << c.output();
}

// Verifies that four workers each hold their own socket at fd 3 (four socket inodes, none the
// supervisor's), requests spread over the four pids, and each saw LISTEN_PID equal to its pid.
TEST(CppclusterReuseport, FourWorkersOwnSocketsRequestsSpread) {
  Child sup(CPPCLUSTER_BIN, {}, run_args({"--reuseport", "--listen", "web=tcp://127.0.0.1:0", "--workers", "4"}));
  const int port = port_of(sup);
  ASSERT_GT(port, 0) << sup.output();
  const auto pids = ready_pids(sup, 4);
  ASSERT_EQ(pids.size(), 4u) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=", 4).empty()) << sup.output();
  std::set<std::string> inodes;
  for (int pid : pids) {
    const std::string s = socket_of(pid, 3);
    EXPECT_EQ(s.rfind("socket:[", 0), 0u) << pid << " " << s;
    inodes.insert(s);
  }
  EXPECT_EQ(inodes.size(), 4u) << "the workers share a socket";
  // The kernel's listening sockets on the port are exactly those four: the supervisor's
  // placeholder is bound, not listening, so no connection can land where nobody accepts.
  EXPECT_EQ(listening_on(port), inodes);

  const auto seen = cppcluster_test::pids_answering(port, 4, 50, 20, [&](int code, const std::string& body) {
    ASSERT_EQ(code, 200) << body << sup.output();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(body, m, std::regex("pid=(\\d+) listen_pid=(\\d+) fds=1 names=web "))) << body;
    EXPECT_EQ(m[1], m[2]) << body;
  });
  EXPECT_EQ(seen, pids) << sup.output();
  stop_and_expect_zero(sup);
}

// Verifies that SIGHUP under continuous load (4 connections, a new one per request) replaces the
// four workers without one failed request: each retiring worker is taken out of the group's
// choice and drained before its SIGTERM, and only new pids answer after.
TEST(CppclusterReuseport, HupUnderLoadLosesNoRequest) {
  Child sup(CPPCLUSTER_BIN, {}, run_args({"--reuseport", "--listen", "tcp://127.0.0.1:0", "--workers", "4"}));
  const int port = port_of(sup);
  ASSERT_GT(port, 0) << sup.output();
  const auto old_pids = ready_pids(sup, 4);
  ASSERT_EQ(old_pids.size(), 4u) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=", 4).empty()) << sup.output();

  const auto new_pids = cppcluster_test::reload_under_load(sup, port, old_pids, "listen_pid=");
  ASSERT_EQ(new_pids.size(), 4u) << sup.output();
  std::set<int> answering;
  for (int i = 0; i < 40; ++i) {
    std::smatch m;
    const std::string body = cppcluster_test::http_get(port, "/").second;
    ASSERT_TRUE(std::regex_search(body, m, std::regex("pid=(\\d+)"))) << body;
    answering.insert(std::stoi(m[1]));
  }
  for (int p : answering) EXPECT_EQ(new_pids.count(p), 1u) << "answered by " << p;
  stop_and_expect_zero(sup);
}

// The accept queue length of the listening TCP socket on port (/proc/net/tcp's rx_queue of a
// LISTEN socket), or -1 when there is none.
int accept_queue(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, local, remote, state, queues;
    f >> slot >> local >> remote >> state >> queues;
    const auto colon = local.find(':');
    if (state != "0A" || colon == std::string::npos || std::stoi(local.substr(colon + 1), nullptr, 16) != port) continue;
    return std::stoi(queues.substr(queues.find(':') + 1), nullptr, 16);
  }
  return -1;
}

// Verifies the drain of a retiring worker's own socket: its one worker busy with a slow request
// while 5 more connections wait in its accept queue, a reload retires it; it is told to stop
// only once it has taken them (a socket that closes resets what is in its queue), so all 6 are
// answered, and by it.
TEST(CppclusterReuseport, ReloadDrainsTheRetiringWorkersQueue) {
  Child sup(CPPCLUSTER_BIN, {}, run_args({"--reuseport", "--listen", "tcp://127.0.0.1:0", "--workers", "1"}));
  const int port = port_of(sup);
  ASSERT_GT(port, 0) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=").empty()) << sup.output();
  auto slow = std::async(std::launch::async, [port] { return cppcluster_test::http_get(port, "/slow?ms=1500"); });
  ASSERT_FALSE(sup.wait_for("\\] slow start pid=").empty()) << sup.output();
  std::vector<std::future<std::pair<int, std::string>>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(std::async(std::launch::async, [port] { return cppcluster_test::http_get(port, "/"); }));
  for (int i = 0; i < 1000 && accept_queue(port) < 5; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(accept_queue(port), 5) << "the connections did not queue";
  ::kill(sup.pid(), SIGHUP);
  const auto [code, body] = slow.get();
  EXPECT_EQ(code, 200) << body << sup.output();
  for (auto& q : queued) {
    const auto [c, b] = q.get();
    EXPECT_EQ(c, 200) << b << sup.output();
  }
  ASSERT_FALSE(sup.wait_for("reload done").empty()) << sup.output();
  stop_and_expect_zero(sup);
}

// A UDP worker: answers each datagram on fd 3 with its pid.
const char* const udp_echo =
    "import os, signal, socket, sys\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "assert os.environ['LISTEN_PID'] == str(os.getpid())\n"
    "s = socket.socket(fileno=3)\n"
    "print('serving udp', flush=True)\n"
    "while True:\n"
    "    data, peer = s.recvfrom(2048)\n"
    "    s.sendto(b'pid=%d' % os.getpid(), peer)\n";

// Verifies UDP under --reuseport: every one of 100 datagrams from 100 source ports is answered
// (the supervisor's connected placeholder takes none of them), by both workers.
TEST(CppclusterReuseport, UdpDatagramsAllAnsweredByTheWorkers) {
  Child sup(CPPCLUSTER_BIN, {}, run_args({"--reuseport", "--listen", "udp://127.0.0.1:0", "--workers", "2"},
                                         {PYTHON3, "-c", udp_echo}));
  const int port = port_of(sup, "udp");
  ASSERT_GT(port, 0) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving udp", 2).empty()) << sup.output();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  std::set<std::string> pids;
  int answered = 0;
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ::sendto(fd, "hi", 2, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    pollfd p{fd, POLLIN, 0};
    char buf[64];
    if (::poll(&p, 1, 10000) == 1) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        ++answered;
        pids.insert(std::string(buf, static_cast<std::size_t>(n)));
      }
    }
    ::close(fd);
  }
  EXPECT_EQ(answered, 100) << sup.output();
  EXPECT_EQ(pids.size(), 2u) << sup.output();
  stop_and_expect_zero(sup);
}

// Verifies that --reuseport with a unix: address is a usage error: exit 2 and a clear message.
TEST(CppclusterReuseport, UnixAddressRefusedWithExitTwo) {
  Child c(CPPCLUSTER_BIN, {}, {"run", "--reuseport", "--listen", "unix:/tmp/cppcluster-reuseport-test.sock", "--", "true"});
  const auto said = c.wait_for("a Unix socket cannot be shared with SO_REUSEPORT", 1, 30s);
  const int status = c.wait_exit(30s);
  EXPECT_FALSE(said.empty()) << c.output();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2) << c.output();
}

}  // namespace
