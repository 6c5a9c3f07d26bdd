// hold_servers() (beyond Node): while held, a shared server stays open when its last worker dies;
// a connection made meanwhile waits in the backlog and is served by the next worker, under each
// policy. Once the hold is dropped, the server closes with its last worker, as in Node.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

// Answers each connection with its id.
WORKER_ROLE(hold_worker) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  server->listen(0, "127.0.0.1");
}

namespace {

class HoldServers : public ::testing::TestWithParam<int> {};

// Verifies that with a hold, a connection made while no worker runs is answered by the worker
// forked afterwards, and that without the hold the server closes with its last worker.
TEST_P(HoldServers, ConnectionWaitsForTheNextWorker) {
  if (!net_test::use_policy(GetParam())) GTEST_SKIP() << "the policy is frozen in this process";
  auto hold = hold_servers();
  auto first = fork_role("hold_worker");
  int port = 0, waiting_fd = -1;
  std::string reply;
  net_test::ClientThreads clients;
  first->on(ev::listening, [&](const Address& a) {
    port = a.port;
    first->kill(SIGKILL);
  });
  first->on(ev::exit, [&] {
    // No worker now: the port still takes connections (into the backlog).
    waiting_fd = net_test::connect_to({"tcp4", port, ""});
    if (waiting_fd < 0) {
      ADD_FAILURE() << "connection refused while the servers were held";
      return;
    }
    const int fd = waiting_fd;
    clients.start({[fd] { return net_test::read_all(fd); }}, 1, [&](std::size_t, const std::string& r) { reply = r; },
                  [&] {
                    hold.reset();  // from now on the server closes with its last worker
                    for (auto& [id, w] : cluster::workers()) w->disconnect();
                  });
    fork_role("hold_worker");
  });
  run_loop();
  EXPECT_EQ(reply, "worker 2\n");
  // The hold is gone and so is the last worker: the port is closed.
  const int after = net_test::connect_to({"tcp4", port, ""});
  EXPECT_LT(after, 0) << "the server outlived its last worker without a hold";
  if (after >= 0) ::close(after);
}

INSTANTIATE_TEST_SUITE_P(Policies, HoldServers, ::testing::Values(sched_rr, sched_none, sched_reuseport),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == sched_rr ? "rr" : i.param == sched_none ? "none" : "reuseport");
                         });

}  // namespace
