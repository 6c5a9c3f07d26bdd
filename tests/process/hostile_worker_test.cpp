// A misbehaving worker must not take the primary's descriptors or memory, nor stop the other
// workers from serving: descriptors sent on frames no NODE_HANDLE claims, a flood of them, a
// flood of queryServer requests, a worker that never reads. Each bound passed is an error
// (errc::limit_exceeded) on that worker, whose channel is then closed; the others keep serving.
#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>

#include <dirent.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

// Descriptors of this process whose target contains `what` ("" counts every one).
int open_fds(const std::string& what = "") {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[256] = {};
      ssize_t len = ::readlink(("/proc/self/fd/" + std::string(e->d_name)).c_str(), target, sizeof target - 1);
      if (len > 0 && std::string(target).find(what) != std::string::npos) ++n;
    }
    ::closedir(d);
  }
  return n;
}

constexpr const char* sent_name = "cppcluster-hostile";  // the memfd workers send

// Writes bytes on the channel (fd 3) with `count` copies of one memfd named sent_name attached.
void send_with_fds(const std::string& bytes, int count) {
  static const int memfd = ::memfd_create(sent_name, MFD_CLOEXEC);
  std::vector<int> fds(static_cast<std::size_t>(count), memfd);
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 64)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cm), fds.data(), sizeof(int) * fds.size());
  while (::sendmsg(3, &mh, MSG_NOSIGNAL) < 0) {
    if (errno == EAGAIN) {
      pollfd p{3, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else if (errno != EINTR) {
      std::exit(7);
    }
  }
}

// Writes bytes on the channel, waiting while it is full (the library made it non-blocking).
void write_blocking(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(3, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{3, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else if (n < 0 && errno != EINTR) {
      std::exit(7);
    }
  }
}

int env_count(const char* name) { return std::atoi(std::getenv(name)); }

}  // namespace

// Sends COUNT user messages, each with 8 descriptors riding on it, then says "done".
WORKER_ROLE(fds_on_messages) {
  for (int i = 0; i < env_count("COUNT"); ++i) send_with_fds("{\"n\":" + std::to_string(i) + "}\n", 8);
  write_blocking("\"done\"\n");
}

// Sends the first byte of a frame with 64 descriptors, COUNT times, and never finishes the frame.
WORKER_ROLE(fds_on_a_frame_never_finished) {
  send_with_fds("{", 64);
  for (int i = 1; i < env_count("COUNT"); ++i) send_with_fds(" ", 64);
}

// Asks for COUNT different servers (listen(0) with distinct indexes) without reading the answers.
WORKER_ROLE(query_server_flood) {
  for (int i = 0; i < env_count("COUNT"); ++i) {
    write_blocking(R"({"cmd":"NODE_CLUSTER","act":"queryServer","address":"127.0.0.1","port":0,"addressType":4,"fd":-1,"index":)" +
              std::to_string(i) + R"(,"seq":)" + std::to_string(i + 1) + "}\n");
  }
}

// Never returns to its loop: reads nothing the primary sends.
WORKER_ROLE(never_reads) {
  worker().send("ready");
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

// Answers every connection with its id.
WORKER_ROLE(plain_server) {
  static auto server = net::create_server([](const std::shared_ptr<net::Socket>& s) {
    s->end("worker " + std::to_string(worker().id()) + "\n");
  });
  server->listen(0, "127.0.0.1");
}

// Verifies that descriptors riding on user messages (no NODE_HANDLE claims them) are closed as
// the frames are read: the primary holds none of the 8000 sent, and the worker is not cut off.
TEST(HostileWorker, DescriptorsOnPlainMessagesAreClosed) {
  auto w = fork_role("fds_on_messages", {{"COUNT", "1000"}});
  int messages = 0, peak = 0;
  w->on(ev::message, [&](const Message& m) {
    peak = std::max(peak, open_fds(sent_name));
    if (m == "done") {
      w->disconnect();
    } else {
      ++messages;
    }
  });
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << "unexpected error: " << e.what(); });
  run_loop();
  EXPECT_EQ(messages, 1000);
  // At most the descriptors of one read (8 per frame) are held at a time.
  EXPECT_LE(peak, 128) << "descriptors piled up in the primary";
  EXPECT_EQ(open_fds(sent_name), 0);
}

// Verifies that a worker holding more than max_held_fds unclaimed descriptors (all on one frame
// it never finishes) gets errc::limit_exceeded and is cut off; the primary keeps none of them.
TEST(HostileWorker, DescriptorFloodPassesTheBoundAndIsCutOff) {
  setup_primary({.max_held_fds = 128});
  auto w = fork_role("fds_on_a_frame_never_finished", {{"COUNT", "10"}});
  std::string error;
  bool disconnected = false;
  w->on(ev::error, [&](const std::system_error& e) {
    if (error.empty()) error = err_name(e.code());
  });
  w->on(ev::disconnect, [&] {
    disconnected = true;
    w->kill(SIGKILL);
  });
  run_loop();
  EXPECT_EQ(error, "ERR_CLUSTER_LIMIT_EXCEEDED");
  EXPECT_TRUE(disconnected);
  EXPECT_EQ(open_fds(sent_name), 0);
}

// Verifies that a worker asking for more than max_servers_per_worker servers is cut off at the
// bound: the primary never holds more listening sockets than that, and the serving worker
// beside it answers meanwhile.
TEST(HostileWorker, QueryServerFloodStopsAtTheServerBound) {
  if (!net_test::use_policy(sched_rr)) GTEST_SKIP() << "the policy is frozen in this process";
  setup_primary({.max_servers_per_worker = 64});
  auto good = fork_role("plain_server");
  int before = 0;
  std::shared_ptr<Worker> flood;
  std::string error;
  int peak = 0, answered = 0;
  net_test::ClientThreads clients;
  good->on(ev::listening, [&](const Address& a) {
    before = open_fds("socket:");
    flood = fork_role("query_server_flood", {{"COUNT", "5000"}});
    flood->on(ev::error, [&](const std::system_error& e) {
      if (error.empty()) error = err_name(e.code());
    });
    flood->on(ev::disconnect, [&, port = a.port] {
      peak = std::max(peak, open_fds("socket:"));
      flood->kill(SIGKILL);
      // The serving worker still answers.
      std::vector<net_test::ClientThreads::Job> jobs(20, [port] { return net_test::request({"tcp4", port, ""}, ""); });
      clients.start(jobs, 4, [&](std::size_t, const std::string& r) { answered += r.rfind("worker ", 0) == 0; },
                    [&] { good->disconnect(); });
    });
  });
  run_loop();
  EXPECT_EQ(error, "ERR_CLUSTER_LIMIT_EXCEEDED");
  EXPECT_EQ(answered, 20);
  // Its channel and at most 64 listening sockets.
  EXPECT_LE(peak - before, 65) << "listening sockets beyond the bound";
}

// Verifies that a worker that never reads is cut off once more than max_queued_bytes wait for
// it, instead of the primary's memory growing with every send.
TEST(HostileWorker, WorkerThatNeverReadsIsCutOffAtTheQueueBound) {
  setup_primary({.max_queued_bytes = std::size_t{4} << 20});
  auto w = fork_role("never_reads");
  std::string error;
  int sends = 0;
  w->on(ev::message, [&](const Message&) {
    const std::string chunk(16 * 1024, 'x');
    // 64 MiB in all if nothing stopped it; the bound stops it after about 4 MiB past the socket.
    for (; sends < 4096 && w->is_connected(); ++sends) w->send(chunk);
  });
  w->on(ev::error, [&](const std::system_error& e) {
    if (error.empty()) error = err_name(e.code());
  });
  w->on(ev::disconnect, [&] { w->kill(SIGKILL); });
  run_loop();
  EXPECT_EQ(error, "ERR_CLUSTER_LIMIT_EXCEEDED");
  EXPECT_LT(sends, 4096) << "the primary kept queueing for a worker that reads nothing";
}
