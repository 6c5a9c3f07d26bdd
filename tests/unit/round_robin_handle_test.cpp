// RoundRobinHandle's hand-off logic behind an injected sender, without processes: with a window of
// one, Node's round_robin_handle.js (one newconn in flight per worker, free workers in turn,
// refusals redistributed, everything closed with the last worker, plus the cases Node loses); with
// the default window, even counts per worker, a silent worker skipped, newcomers counted level.
#include "round_robin_handle.hpp"
#include "unit/conn_stub.hpp"

#include <cluster/cluster.hpp>
#include <uv.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <memory>
#include <vector>

using cluster::RoundRobinHandle;

namespace {

struct Sent {
  int worker;
  int fd;
  std::function<void(bool)> reply;
  std::function<void(bool)> written;  // set while the frame is held in the (pretend) write queue
};

using unit_conn::conn;
using unit_conn::is_open;

using Leaving = RoundRobinHandle::Leaving;

struct Fixture {
  explicit Fixture(std::size_t window = 1) : window(window) {}
  std::size_t window;
  std::vector<Sent> sent;
  std::vector<int> unreachable;  // workers the sender cannot reach
  bool hold_writes = false;      // frames stay "queued" until the test calls written
  std::shared_ptr<RoundRobinHandle> rr = std::make_shared<RoundRobinHandle>(
      "null:0:4:undefined:0", [this](int worker, int fd, RoundRobinHandle::Delivery d) {
        for (int u : unreachable) {
          if (u == worker) return false;
        }
        if (!hold_writes) {
          d.written(true);  // the frame left at once
          d.written = nullptr;
        }
        sent.push_back({worker, fd, std::move(d.answered), std::move(d.written)});
        return true;
      },
      window);
};

// Verifies connections go to free workers in turn and a busy worker gets nothing more until it
// answers.
TEST(RoundRobinHandle, OneInFlightPerWorkerInTurn) {
  Fixture f;
  f.rr->add(1);
  f.rr->add(2);
  int a = conn(), b = conn(), c = conn();
  f.rr->distribute(a);
  f.rr->distribute(b);
  f.rr->distribute(c);
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[0].worker, 1);
  EXPECT_EQ(f.sent[1].worker, 2);
  EXPECT_EQ(f.rr->queued(), 1u);
  f.sent[1].reply(true);  // worker 2 answers first and gets the queued one
  EXPECT_FALSE(is_open(b));
  ASSERT_EQ(f.sent.size(), 3u);
  EXPECT_EQ(f.sent[2].worker, 2);
  EXPECT_EQ(f.sent[2].fd, c);
  f.sent[0].reply(true);
  f.sent[2].reply(true);
  EXPECT_FALSE(is_open(a));
  EXPECT_FALSE(is_open(c));
  EXPECT_EQ(f.rr->in_flight(), 0u);
}

// Verifies a refused connection (accepted:false) goes to another worker.
TEST(RoundRobinHandle, RefusedGoesToAnotherWorker) {
  Fixture f;
  f.rr->add(1);
  int a = conn();
  f.rr->distribute(a);
  f.rr->add(2);
  f.sent[0].reply(false);
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].worker, 2);
  EXPECT_EQ(f.sent[1].fd, a);
  EXPECT_TRUE(is_open(a));
  f.sent[1].reply(true);
  EXPECT_FALSE(is_open(a));
}

// Verifies the connection in flight to a worker that is gone goes to a survivor, and a late
// answer from the dead worker changes nothing.
TEST(RoundRobinHandle, InFlightOfGoneWorkerGoesToSurvivor) {
  Fixture f;
  f.rr->add(1);
  f.rr->add(2);
  int a = conn(), b = conn();
  f.rr->distribute(a);
  f.rr->distribute(b);
  f.sent[1].reply(true);  // worker 2 is free again
  EXPECT_FALSE(f.rr->remove(1, Leaving::unreachable));
  ASSERT_EQ(f.sent.size(), 3u);
  EXPECT_EQ(f.sent[2].worker, 2);
  EXPECT_EQ(f.sent[2].fd, a);
  f.sent[0].reply(true);  // stale: must not close a
  EXPECT_TRUE(is_open(a));
  f.sent[2].reply(true);
  EXPECT_FALSE(is_open(a));
}

// Verifies a worker that leaves while still connected keeps its connection in flight until it
// answers (it may still take it), as Node does.
TEST(RoundRobinHandle, LeavingWorkerStillAnswers) {
  Fixture f;
  f.rr->add(1);
  f.rr->add(2);
  int a = conn();
  f.rr->distribute(a);
  EXPECT_FALSE(f.rr->remove(1, Leaving::answering));
  EXPECT_EQ(f.sent.size(), 1u);
  f.sent[0].reply(false);  // refused: goes to worker 2
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].worker, 2);
  f.sent[1].reply(true);
  EXPECT_FALSE(is_open(a));
}

// Verifies an unreachable worker's connection is handed to another.
TEST(RoundRobinHandle, UnreachableWorkerIsSkipped) {
  Fixture f;
  f.unreachable = {1};
  f.rr->add(2);
  f.rr->add(1);  // free after 2, so 2 is asked first; make 2 busy
  int a = conn(), b = conn();
  f.rr->distribute(a);  // -> 2
  f.rr->distribute(b);  // -> 1 (unreachable), back to the queue
  EXPECT_FALSE(f.rr->has(1));
  EXPECT_EQ(f.rr->queued(), 1u);
  f.sent[0].reply(true);
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].fd, b);
}

// Verifies the last worker leaving closes the queued connections (and later ones), and the
// destructor closes what is still in flight.
TEST(RoundRobinHandle, LastWorkerClosesEverything) {
  Fixture f;
  f.rr->add(1);
  int a = conn(), b = conn();
  f.rr->distribute(a);
  f.rr->distribute(b);
  EXPECT_TRUE(f.rr->remove(1, Leaving::answering));
  EXPECT_TRUE(f.rr->closed());
  EXPECT_FALSE(is_open(b));  // queued
  EXPECT_TRUE(is_open(a));   // in flight: the worker may still take it
  f.sent[0].reply(false);    // refused with nobody left: closed
  EXPECT_FALSE(is_open(a));
  int c = conn();
  f.rr->distribute(c);
  EXPECT_FALSE(is_open(c));

  Fixture g;
  g.rr->add(1);
  int d = conn();
  g.rr->distribute(d);
  g.rr.reset();  // the primary dropped the handle with d in flight
  EXPECT_FALSE(is_open(d));
}

// Verifies that when the primary cuts a worker's channel, the connections already written to it
// stay with it (it may read and serve them: nobody else gets them, the primary's copies are
// closed) and those whose write fails go to another worker.
TEST(RoundRobinHandle, CutOffWorkerKeepsWhatWasWritten) {
  Fixture f(4);
  f.hold_writes = true;
  f.rr->add(1);
  f.rr->add(2);
  int a = conn(), b = conn(), c = conn();
  f.rr->distribute(a);  // -> 1
  f.rr->distribute(b);  // -> 2
  f.rr->distribute(c);  // -> 1
  ASSERT_EQ(f.sent.size(), 3u);
  ASSERT_EQ(f.sent[0].worker, 1);
  ASSERT_EQ(f.sent[2].worker, 1);
  std::exchange(f.sent[0].written, nullptr)(true);  // a left; c is still queued for writing
  EXPECT_FALSE(f.rr->remove(1, Leaving::cut_off));
  EXPECT_FALSE(is_open(a));     // worker 1's now
  EXPECT_TRUE(is_open(c));      // not written yet
  EXPECT_EQ(f.sent.size(), 3u);  // nothing re-sent
  std::exchange(f.sent[2].written, nullptr)(false);  // the channel closed before c left
  ASSERT_EQ(f.sent.size(), 4u);
  EXPECT_EQ(f.sent[3].worker, 2);
  EXPECT_EQ(f.sent[3].fd, c);
  // The worker's exit later changes nothing, and its answers never come.
  EXPECT_FALSE(f.rr->remove(1, Leaving::unreachable));
  EXPECT_EQ(f.sent.size(), 4u);
  std::exchange(f.sent[1].written, nullptr)(true);
  std::exchange(f.sent[3].written, nullptr)(true);
  f.sent[1].reply(true);
  f.sent[3].reply(true);
  EXPECT_FALSE(is_open(b));
  EXPECT_FALSE(is_open(c));
}

// Verifies a descriptor is not closed while a frame carrying it waits to be written, however the
// handle lets it go (accepted elsewhere, the last worker leaving, the handle dropped): the close
// happens when the write completes.
TEST(RoundRobinHandle, NeverClosesWhatAWriteQueueHolds) {
  Fixture f(2);
  f.hold_writes = true;
  f.rr->add(1);
  f.rr->add(2);
  int a = conn(), b = conn();
  f.rr->distribute(a);  // -> 1, still queued for writing
  EXPECT_FALSE(f.rr->remove(1, Leaving::unreachable));  // peer gone: a goes to 2
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].fd, a);
  std::exchange(f.sent[1].written, nullptr)(true);
  f.sent[1].reply(true);  // 2 took it, but worker 1's queue still holds a
  EXPECT_TRUE(is_open(a));
  std::exchange(f.sent[0].written, nullptr)(false);
  EXPECT_FALSE(is_open(a));

  f.rr->distribute(b);  // -> 2, held
  ASSERT_EQ(f.sent.size(), 3u);
  EXPECT_TRUE(f.rr->remove(2, Leaving::unreachable));  // last worker: closed, but b is queued
  auto written = std::exchange(f.sent[2].written, nullptr);
  f.rr.reset();  // the primary drops the handle; the pending write keeps it
  EXPECT_TRUE(is_open(b));
  written(false);
  written = nullptr;
  EXPECT_FALSE(is_open(b));
}

// Answers (accepted) every pending newconn whose worker satisfies pred; answers may hand out more.
template <typename Pred>
void answer(Fixture& f, Pred pred) {
  for (std::size_t k = 0; k < f.sent.size(); ++k) {
    if (!f.sent[k].reply || !pred(f.sent[k].worker)) continue;
    auto reply = std::exchange(f.sent[k].reply, nullptr);
    reply(true);
  }
}

int pending(const Fixture& f, int worker) {
  int n = 0;
  for (const auto& s : f.sent) n += s.worker == worker && s.reply;
  return n;
}

// Verifies that with room for several connections per worker, counts stay even whatever order
// the workers answer in (the kernel's scheduling no longer decides who gets more).
TEST(RoundRobinHandle, CountsStayEvenWhateverTheAnswerOrder) {
  Fixture f(4);
  f.rr->add(1);
  f.rr->add(2);
  f.rr->add(3);
  for (int i = 0; i < 300; ++i) {
    f.rr->distribute(conn());
    // Worker 1 answers at once, worker 2 every other time, worker 3 only when its window is full.
    answer(f, [&](int w) { return w == 1 || (w == 2 && i % 2 == 0); });
    if (pending(f, 3) == 4) answer(f, [](int w) { return w == 3; });
  }
  int counts[4] = {};
  for (auto& s : f.sent) ++counts[s.worker];
  EXPECT_EQ(counts[1] + counts[2] + counts[3], 300);
  EXPECT_LE(std::max({counts[1], counts[2], counts[3]}) - std::min({counts[1], counts[2], counts[3]}), 1);
  answer(f, [](int) { return true; });
}

// Verifies a worker that stops answering gets at most `window` connections and the rest go to
// the others; its connections come back, oldest first, when it is gone.
TEST(RoundRobinHandle, SilentWorkerIsSkippedAfterItsWindow) {
  Fixture f(4);
  f.rr->add(1);
  f.rr->add(2);
  for (int i = 0; i < 20; ++i) {
    f.rr->distribute(conn());
    answer(f, [](int w) { return w == 2; });
  }
  ASSERT_EQ(f.sent.size(), 20u);
  std::vector<int> held;
  for (auto& s : f.sent) {
    if (s.worker == 1) held.push_back(s.fd);
  }
  EXPECT_EQ(held.size(), 4u);
  EXPECT_EQ(f.rr->in_flight(), 4u);
  EXPECT_FALSE(f.rr->remove(1, Leaving::unreachable));
  std::vector<int> resent;
  for (std::size_t i = 20; i < f.sent.size(); ++i) resent.push_back(f.sent[i].fd);
  EXPECT_EQ(resent, held);  // all to worker 2, whose window has room for four
  answer(f, [](int) { return true; });
  for (int fd : held) EXPECT_FALSE(is_open(fd));
}

// Verifies a worker that joins late is counted level with the least-served one instead of getting
// every connection until it catches up.
TEST(RoundRobinHandle, NewcomerStartsLevel) {
  Fixture f(4);
  f.rr->add(1);
  for (int i = 0; i < 10; ++i) {
    f.rr->distribute(conn());
    answer(f, [](int) { return true; });
  }
  f.rr->add(2);
  for (int i = 0; i < 10; ++i) {
    f.rr->distribute(conn());
    answer(f, [](int) { return true; });
  }
  int to2 = 0;
  for (std::size_t i = 10; i < f.sent.size(); ++i) to2 += f.sent[i].worker == 2;
  EXPECT_EQ(to2, 5);
}

}  // namespace

namespace {

// Lowers this process's descriptor limit so that only `free` numbers stay usable below it;
// returns the old limit to restore.
rlimit limit_free_descriptors(int free) {
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  const int lowest = ::dup(0);  // the lowest free number
  ::close(lowest);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(lowest + free);
  EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  return old;
}

// A listening loopback socket and its address.
int listener(sockaddr_in& sa) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sa = {};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::listen(lfd, 64);
  socklen_t len = sizeof sa;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  return lfd;
}

// Verifies that running out of descriptors pauses accepting instead of spinning or dropping: the
// connections wait in the backlog and are all handed out once descriptors are free again.
TEST(RoundRobinHandle, OutOfDescriptorsPausesAndLosesNothing) {
  Fixture f(8);
  sockaddr_in sa;
  ASSERT_EQ(f.rr->start(listener(sa)), 0);
  f.rr->add(1);

  constexpr int n = 3;
  int clients[n];
  for (int& c : clients) c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // No descriptor number is free below the limit from here on: accept4 fails with EMFILE.
  const rlimit old = limit_free_descriptors(0);
  for (int c : clients) ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);

  // Run the loop for a while: accepting pauses, nothing is handed out, nothing spins.
  const auto loop = cluster::loop();
  const uint64_t until = uv_now(loop) + 3 * RoundRobinHandle::accept_retry_ms;
  for (int i = 0; i < 10000 && uv_now(loop) < until; ++i) {
    uv_run(loop, UV_RUN_ONCE);
    uv_update_time(loop);
  }
  EXPECT_GE(f.rr->accept_pauses(), 1u);
  EXPECT_LE(f.rr->accept_pauses(), 10u);  // about one per retry period, not one per loop turn
  EXPECT_TRUE(f.sent.empty());

  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  const uint64_t deadline = uv_now(loop) + 10000;
  while (f.sent.size() < static_cast<std::size_t>(n) && uv_now(loop) < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    uv_update_time(loop);
  }
  EXPECT_EQ(f.sent.size(), static_cast<std::size_t>(n));
  answer(f, [](int) { return true; });
  for (int c : clients) ::close(c);
  f.rr.reset();
  uv_run(loop, UV_RUN_NOWAIT);  // lets the closed handles go
}

}  // namespace

namespace {

// Verifies that out of descriptors, a connection the handle closes (its worker answered) ends the
// pause at once: with room for one descriptor and a pause far longer than the test, every
// waiting connection is still handed out, one per answer.
TEST(RoundRobinHandle, OutOfDescriptorsResumesWhenAnAnswerFreesOne) {
  Fixture f(8);
  sockaddr_in sa;
  ASSERT_EQ(f.rr->start(listener(sa)), 0);
  f.rr->set_accept_retry_ms(600000);
  f.rr->add(1);
  constexpr int n = 5;
  int clients[n];
  for (int& c : clients) c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const rlimit old = limit_free_descriptors(1);
  for (int c : clients) ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);

  const auto loop = cluster::loop();
  std::size_t answered = 0;
  for (int i = 0; i < 100000 && answered < static_cast<std::size_t>(n); ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    for (; answered < f.sent.size(); ++answered) f.sent[answered].reply(true);  // frees its descriptor
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(answered, static_cast<std::size_t>(n));
  EXPECT_GE(f.rr->accept_pauses(), static_cast<std::uint64_t>(n - 1));  // it did run out each time
  for (int c : clients) ::close(c);
  f.rr.reset();
  uv_run(loop, UV_RUN_NOWAIT);
}

// Verifies that a worker whose oldest connection went unanswered past the deadline is offered
// no more until it answers; the others get the connections meanwhile.
TEST(RoundRobinHandle, OverdueWorkerIsSkippedUntilItAnswers) {
  std::vector<Sent> sent;
  auto rr = std::make_shared<RoundRobinHandle>(
      "null:0:4:undefined:0",
      [&sent](int worker, int fd, RoundRobinHandle::Delivery d) {
        d.written(true);
        sent.push_back({worker, fd, std::move(d.answered), nullptr});
        return true;
      },
      8, 50);
  rr->add(1);
  rr->add(2);
  rr->distribute(conn());  // to 1
  rr->distribute(conn());  // to 2
  ASSERT_EQ(sent.size(), 2u);
  sent[1].reply(true);  // 2 answers; 1 stays silent
  // Wait (on the loop's clock) past the deadline.
  uv_timer_t t;
  uv_timer_init(cluster::loop(), &t);
  uv_timer_start(&t, [](uv_timer_t*) {}, 60, 0);
  uv_run(cluster::loop(), UV_RUN_DEFAULT);
  for (int i = 0; i < 4; ++i) rr->distribute(conn());
  ASSERT_EQ(sent.size(), 6u);
  for (std::size_t i = 2; i < 6; ++i) EXPECT_EQ(sent[i].worker, 2) << i;
  EXPECT_GE(rr->overdue_skips(), 4u);
  sent[0].reply(true);  // 1 answers: it is offered connections again
  for (std::size_t i = 2; i < 6; ++i) sent[i].reply(true);
  rr->distribute(conn());
  ASSERT_EQ(sent.size(), 7u);
  EXPECT_EQ(sent[6].worker, 1);
  rr.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(cluster::loop(), UV_RUN_NOWAIT);
}

}  // namespace
