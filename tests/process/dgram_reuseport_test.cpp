// UDP under sched_reuseport (beyond Node): each worker binds its own SO_REUSEPORT socket, bound
// by the primary, and the kernel hashes the flows over them; a worker's death moves its flows to
// the others; a port held elsewhere is refused. Under sched_rr and sched_none UDP stays Node's
// one shared socket.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/dgram.hpp>
#include <cluster/timer.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

// The inode of this process's UDP socket bound to port (one socket object has one inode in
// every process that holds a descriptor of it), or 0.
long long udp_socket_inode(int port) {
  for (int fd = 0; fd < 1024; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 || ss.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port) != port) continue;
    struct stat st{};
    if (fstat(fd, &st) == 0) return static_cast<long long>(st.st_ino);
  }
  return 0;
}

}  // namespace

// Binds udp4 127.0.0.1:UDP_PORT (default 0; exclusively with UDP_EXCLUSIVE) and answers each
// datagram with its worker id. Reports {port, inode} once bound, or {error}.
WORKER_ROLE(udp_id_answerer) {
  static auto sock = dgram::create_socket(dgram::Type::udp4);
  sock->on(ev::error, [](const std::system_error& e) { worker().send({{"error", err_name(e.code())}}); });
  sock->on(ev::message, [](std::string_view, const dgram::RemoteInfo& r) {
    sock->send(std::to_string(worker().id()), r.port, r.address);
  });
  dgram::BindOptions o;
  o.address = "127.0.0.1";
  if (const char* p = std::getenv("UDP_PORT")) o.port = std::atoi(p);
  o.exclusive = std::getenv("UDP_EXCLUSIVE") != nullptr;
  sock->bind(o, [] {
    const int port = sock->address()->port;
    worker().send({{"port", port}, {"inode", udp_socket_inode(port)}});
  });
}

namespace {

using namespace std::chrono_literals;

// Client flows: each from its own new socket (its own source port) on 127.0.0.1, one datagram
// each, at most `window` unanswered at a time (so no receive buffer overflows), the unanswered
// ones sent again every 300 ms (at most 50 times: then the run fails). Counts the answers by the
// worker id they carry.
class Flows {
 public:
  // Starts n flows to port; done runs once each has an answer.
  void run(int port, int n, int window, std::function<void()> done) {
    port_ = port;
    total_ = n;
    done_ = std::move(done);
    for (int i = 0; i < window && started_ < total_; ++i) start_one();
    resend_ = set_interval([this] {
      if (++rounds_ > 50) {
        ADD_FAILURE() << waiting_.size() << " flows never answered";
        finish();
        return;
      }
      for (auto& [n, c] : waiting_) c->send("who", port_, "127.0.0.1");
    }, 300ms);
  }
  // worker id -> flows it answered
  const std::map<int, int>& by_worker() const { return by_worker_; }

 private:
  void start_one() {
    const int n = started_++;
    auto c = dgram::create_socket(dgram::Type::udp4);
    waiting_[n] = c;
    c->on(ev::message, [this, n](std::string_view data, const dgram::RemoteInfo&) {
      auto it = waiting_.find(n);
      if (it == waiting_.end()) return;
      ++by_worker_[std::atoi(std::string(data).c_str())];
      it->second->close();
      waiting_.erase(it);
      if (started_ < total_) {
        start_one();
      } else if (waiting_.empty()) {
        finish();
      }
    });
    c->bind(0, "127.0.0.1", [c, port = port_] { c->send("who", port, "127.0.0.1"); });
  }
  void finish() {
    resend_.cancel();
    for (auto& [n, c] : waiting_) c->close();
    waiting_.clear();
    if (auto d = std::move(done_)) d();
  }

  int port_ = 0, total_ = 0, started_ = 0, rounds_ = 0;
  std::map<int, std::shared_ptr<dgram::Socket>> waiting_;
  std::map<int, int> by_worker_;
  Timer resend_;
  std::function<void()> done_;
};

using Listeners = std::vector<scoped_listener<ClusterEmitter>>;

// Forks n udp_id_answerer workers; ready(port, inodes) runs once each reported its port and the
// primary saw each one's listening; an error report fails the test and disconnects. The cluster
// listeners last as long as the result.
[[nodiscard]] Listeners fork_answerers(int n, std::function<void(int, const std::set<long long>&)> ready) {
  struct Wait {
    int listening = 0;
    std::set<int> ports;
    std::set<long long> inodes;
    int reported = 0;
  };
  auto wait = std::make_shared<Wait>();
  auto maybe_ready = [wait, n, ready] {
    if (wait->listening != n || wait->reported != n) return;
    ASSERT_EQ(wait->ports.size(), 1u);
    ready(*wait->ports.begin(), wait->inodes);
  };
  Listeners l;
  l.emplace_back(events(), on(ev::listening, [wait, maybe_ready](Worker&, const Address& a) {
    EXPECT_EQ(a.address_type, AddressType::udp4);
    ++wait->listening;
    maybe_ready();
  }));
  l.emplace_back(events(), on(ev::message, [wait, maybe_ready](Worker&, const Message& m) {
    if (!m.is_object()) return;
    if (m.contains("error")) {
      ADD_FAILURE() << m;
      cluster::disconnect();
      return;
    }
    wait->ports.insert(m["port"].get<int>());
    wait->inodes.insert(m["inode"].get<long long>());
    ++wait->reported;
    maybe_ready();
  }));
  for (int i = 0; i < n; ++i) fork_role("udp_id_answerer");
  return l;
}

// Verifies 300 flows (one datagram each from its own source port) spread over 3 workers with
// each answering at least 15% (45), every flow answered; then, with one worker killed, 300 new
// flows are all answered by the 2 survivors. The kernel hashes flows at random: a worker's
// count is Binomial(300, 1/3), mean 100, sd 8.2, so 45 is 6.7 sd below the mean (probability
// under 1e-10 a run); with 2 workers, mean 150.
TEST(ReusePortUdp, FlowsSpreadOverWorkersAndSurviveADeath) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  constexpr int flows = 300, at_least = flows * 15 / 100;
  Flows first, second;
  int killed = 0;
  MustCall all_answered(2, "both rounds answered");
  auto listeners = fork_answerers(3, [&](int port, const std::set<long long>& inodes) {
    EXPECT_EQ(inodes.size(), 3u) << "each worker has its own socket";
    EXPECT_EQ(inodes.count(0), 0u);
    first.run(port, flows, 30, [&, port] {
      all_answered();
      ASSERT_EQ(first.by_worker().size(), 3u);
      for (auto [id, count] : first.by_worker()) EXPECT_GE(count, at_least) << "worker " << id;
      auto victim = cluster::workers().begin()->second;
      killed = victim->id();
      victim->on(ev::exit, [&, port] {
        second.run(port, flows, 30, [&] {
          all_answered();
          EXPECT_EQ(second.by_worker().count(killed), 0u);
          EXPECT_EQ(second.by_worker().size(), 2u);
          int total = 0;
          for (auto [id, count] : second.by_worker()) {
            EXPECT_GE(count, at_least) << "worker " << id;
            total += count;
          }
          EXPECT_EQ(total, flows);
          cluster::disconnect();
        });
      });
      victim->kill(SIGKILL);
    });
  });
  run_loop();
}

class UdpSharing : public testing::TestWithParam<int> {};

std::string policy_name(const testing::TestParamInfo<int>& info) {
  return info.param == sched_rr ? "rr" : info.param == sched_none ? "none" : "reuseport";
}

// Verifies UDP stays Node's one shared socket under sched_rr and sched_none (3 workers, one
// socket inode) and is one socket a worker under sched_reuseport (3 inodes), on one port.
TEST_P(UdpSharing, SocketsPerWorker) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  MustCall ready(1, "3 workers bound");
  auto listeners = fork_answerers(3, [&](int, const std::set<long long>& inodes) {
    ready();
    EXPECT_EQ(inodes.size(), GetParam() == sched_reuseport ? 3u : 1u);
    cluster::disconnect();
  });
  run_loop();
}

INSTANTIATE_TEST_SUITE_P(Net, UdpSharing, testing::Values(sched_rr, sched_none, sched_reuseport), policy_name);

// A UDP socket of this process on 127.0.0.1:0 with SO_REUSEPORT: the kind of holder a plain
// SO_REUSEPORT bind would silently join (another instance of the same program).
int reuseport_holder() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
  return fd;
}

int port_of(int fd) {
  sockaddr_in in{};
  socklen_t len = sizeof in;
  getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
  return ntohs(in.sin_port);
}

// Runs one udp_id_answerer with env and returns its report ({port, inode} or {error}).
Message bind_report(Env env) {
  Message got;
  auto w = fork_role("udp_id_answerer", std::move(env));
  w->on(ev::message, [&got, raw = w.get()](const Message& m) {
    got = m;
    raw->disconnect();
  });
  run_loop();
  return got;
}

// Verifies the group's first socket refuses a port another SO_REUSEPORT socket holds
// (EADDRINUSE in the worker's error listener, as for a shared socket), and works once it is free.
TEST(ReusePortUdp, PortHeldElsewhereIsRefused) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  const int holder = reuseport_holder();
  const int port = port_of(holder);
  EXPECT_EQ(bind_report({{"UDP_PORT", std::to_string(port)}}).value("error", ""), "EADDRINUSE");
  ::close(holder);
  EXPECT_EQ(bind_report({{"UDP_PORT", std::to_string(port)}}).value("port", 0), port);
}

// Verifies an exclusive bind stays out of the group: a worker's exclusive socket refuses the
// group its port, and the group's port refuses an exclusive socket (EADDRINUSE both ways). A
// worker with an exclusive socket is killed: disconnect() closes only the cluster's servers, and
// the socket keeps it alive, as in Node.
TEST(ReusePortUdp, ExclusiveBindStaysOutOfTheGroup) {
  if (!net_test::use_policy(sched_reuseport)) GTEST_SKIP() << "the policy is frozen in this process";
  std::string group_error, exclusive_error;
  // An exclusive socket first, then the group at its port.
  auto exclusive = fork_role("udp_id_answerer", {{"UDP_EXCLUSIVE", "1"}});
  exclusive->on(ev::message, [&](const Message& m) {
    auto member = fork_role("udp_id_answerer", {{"UDP_PORT", std::to_string(m.value("port", 0))}});
    member->on(ev::message, [&, raw = member.get()](const Message& reply) {
      group_error = reply.value("error", "bound");
      raw->disconnect();
      exclusive->kill();
    });
  });
  run_loop();
  // The group first, then an exclusive socket at its port.
  auto member = fork_role("udp_id_answerer");
  member->on(ev::message, [&](const Message& m) {
    auto late = fork_role("udp_id_answerer", {{"UDP_PORT", std::to_string(m.value("port", 0))}, {"UDP_EXCLUSIVE", "1"}});
    late->on(ev::message, [&, raw = late.get()](const Message& reply) {
      exclusive_error = reply.value("error", "bound");
      raw->kill();
      member->disconnect();
    });
  });
  run_loop();
  EXPECT_EQ(group_error, "EADDRINUSE");
  EXPECT_EQ(exclusive_error, "EADDRINUSE");
}

}  // namespace
