// Port of Node 20's test-cluster-net-listen-backlog.js: the backlog a worker passes to listen()
// reaches the listen() the primary makes for it under SCHED_RR (Node's test mocks listen; here
// the kernel tells: a listening socket's TCP_INFO carries its backlog in tcpi_sacked).
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

using namespace cluster;
using namespace testing_support;

// Listens on 127.0.0.1:0 with a backlog of 7.
WORKER_ROLE(cb_backlog) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) { s->end("x"); });
  net::ListenOptions o;
  o.port = 0;
  o.host = "127.0.0.1";
  o.backlog = 7;
  server->listen(o);
}

namespace {

// The backlog of this process's TCP socket listening on port, or -1 when there is none.
int listen_backlog_of(int port) {
  int found = -1;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    if (e->d_name[0] == '.' || ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) continue;
    if (sa.sin_family != AF_INET || ntohs(sa.sin_port) != port) continue;
    tcp_info info{};
    socklen_t il = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &il) == 0 && info.tcpi_state == 10 /* TCP_LISTEN */) {
      found = static_cast<int>(info.tcpi_sacked);
    }
  }
  ::closedir(d);
  return found;
}

// Verifies that a worker's listen({backlog: 7}) makes the primary listen with a backlog of 7
// (Node: test-cluster-net-listen-backlog.js).
TEST(ConformanceNet, BacklogReachesThePrimarysListen) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  auto w = fork_role("cb_backlog");
  int backlog = -2;
  w->on(ev::listening, [&](const Address& a) {
    backlog = listen_backlog_of(a.port);
    w->disconnect();
  });
  run_loop();
  EXPECT_EQ(backlog, 7);
}

}  // namespace
