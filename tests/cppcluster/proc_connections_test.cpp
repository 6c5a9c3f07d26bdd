// established_connections(): the TCP connections a process holds, counted from /proc.
#include "proc_connections.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace {

// A loopback listener on a kernel-chosen port, and its address.
struct Listener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  Listener() {
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }
  ~Listener() { ::close(fd); }
};

std::uint64_t mine() {
  const auto counts = cppcluster::established_connections({::getpid()});
  auto it = counts.find(::getpid());
  return it == counts.end() ? ~0ull : it->second;
}

TEST(ProcConnections, CountsEstablishedConnectionsOfAProcess) {
  Listener l;
  const std::uint64_t before = mine();
  ASSERT_NE(before, ~0ull);
  int fds[6];
  for (int i = 0; i < 3; ++i) {
    fds[2 * i] = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(fds[2 * i], reinterpret_cast<sockaddr*>(&l.addr), sizeof l.addr), 0);
    fds[2 * i + 1] = ::accept(l.fd, nullptr, nullptr);
    ASSERT_GE(fds[2 * i + 1], 0);
  }
  // Both ends of each connection are this process's: six more, the listener not among them.
  EXPECT_EQ(mine(), before + 6);
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(mine(), before);
}

TEST(ProcConnections, LeavesOutAProcessThatIsGone) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(cppcluster::established_connections({child}).count(child), 0u);
}

}  // namespace
