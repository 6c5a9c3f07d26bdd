// The shared-memory rings (beyond Node): the byte ring itself (wrap-around, full, the sleep and
// wait flags, two mappings of one memfd), and two Channels talking through rings in one process
// with a small ring, so frames larger than the ring, descriptors riding beside their frames,
// sleeping readers woken through the socket and the end of the channel are all exercised.
#include "ipc/channel.hpp"
#include "ipc/ring.hpp"

#include <cluster/cluster.hpp>
#include <gtest/gtest.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

using namespace cluster;
using cluster::ipc::Channel;
using cluster::ipc::RingPair;

namespace {

// Verifies bytes written through one mapping are read through another, across the ring's end,
// and that a full ring takes nothing more.
TEST(IpcRing, BytesCrossTheEndOfTheRing) {
  auto a = RingPair::create(64);
  ASSERT_TRUE(a);
  auto b = RingPair::attach(a->fd());
  ASSERT_TRUE(b);
  auto tx = a->tx(true);
  auto rx = b->rx(false);
  std::string got;
  char buf[64];
  for (int round = 0; round < 10; ++round) {
    const std::string chunk(40, static_cast<char>('a' + round));
    ASSERT_EQ(tx.write(chunk.data(), chunk.size()), chunk.size());
    ASSERT_TRUE(rx.readable());
    const std::size_t n = rx.read(buf, sizeof buf);
    got.assign(buf, n);
    EXPECT_EQ(got, chunk);
    EXPECT_FALSE(rx.readable());
  }
  const std::string big(100, 'z');
  EXPECT_EQ(tx.write(big.data(), big.size()), 64u);  // what fits
  EXPECT_EQ(tx.write(big.data(), big.size()), 0u);   // full
  EXPECT_EQ(rx.read(buf, 10), 10u);
  EXPECT_EQ(tx.write(big.data(), big.size()), 10u);
}

// Verifies the wake-up flags: a reader may sleep only on an empty ring, a writer learns once that
// it must wake a sleeping reader, and a writer waiting for room is woken once room is made.
TEST(IpcRing, SleepAndWaitFlags) {
  auto a = RingPair::create(16);
  ASSERT_TRUE(a);
  auto tx = a->tx(true);
  auto rx = a->rx(false);
  EXPECT_FALSE(tx.reader_needs_wake());
  EXPECT_TRUE(rx.reader_sleep());
  ASSERT_EQ(tx.write("hello", 5), 5u);
  EXPECT_TRUE(tx.reader_needs_wake());
  EXPECT_FALSE(tx.reader_needs_wake());  // one wake-up per sleep
  EXPECT_FALSE(rx.reader_sleep());       // data waits: it must not sleep
  char buf[16];
  ASSERT_EQ(rx.read(buf, sizeof buf), 5u);
  ASSERT_EQ(tx.write("0123456789abcdef", 16), 16u);
  EXPECT_TRUE(tx.writer_wait());  // full
  ASSERT_EQ(rx.read(buf, 4), 4u);
  EXPECT_TRUE(rx.writer_needs_wake());
  EXPECT_FALSE(rx.writer_needs_wake());
  EXPECT_FALSE(tx.writer_wait());  // room again: no waiting
}

// Verifies attach() refuses a descriptor that is not a ring mapping.
TEST(IpcRing, AttachRefusesOtherFiles) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  EXPECT_FALSE(RingPair::attach(p[0]));
  ::close(p[0]);
  ::close(p[1]);
}

// Verifies a ring whose shared positions a hostile peer set to impossible values moves nothing
// (no copy outside the mapping) and says it is broken.
TEST(IpcRing, ImpossiblePositionsMoveNothing) {
  auto a = RingPair::create(64);
  ASSERT_TRUE(a);
  auto tx = a->tx(true);
  auto rx = a->rx(false);
  ASSERT_EQ(tx.write("abc", 3), 3u);
  EXPECT_TRUE(tx.intact());
  char buf[256];
  tx.header()->tail.store(1u << 20);  // "published" far more than the ring holds
  EXPECT_FALSE(rx.intact());
  EXPECT_EQ(rx.read(buf, sizeof buf), 0u);
  tx.header()->tail.store(3);
  tx.header()->head.store(10);  // "consumed" more than was published
  EXPECT_FALSE(tx.intact());
  EXPECT_EQ(tx.write(buf, sizeof buf), 0u);
  EXPECT_FALSE(tx.writer_wait() && tx.intact());
}

// Verifies a capacity that is not a multiple of 64 still leaves both rings' headers aligned
// for their atomics (found by tests/fuzz/fuzz_ring: ring 1's header sat at an odd address).
TEST(IpcRing, OddCapacitiesKeepHeadersAligned) {
  for (std::size_t capacity : {1u, 16u, 100u, 4097u}) {
    auto a = RingPair::create(capacity);
    ASSERT_TRUE(a);
    auto b = RingPair::attach(a->fd());
    ASSERT_TRUE(b);
    for (bool primary : {true, false}) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a->tx(primary).header()) % alignof(ipc::Ring::Header), 0u) << capacity;
    }
    auto tx = a->tx(false);
    auto rx = b->rx(true);
    char buf[8] = {};
    EXPECT_EQ(tx.write("a", 1), 1u);
    EXPECT_EQ(rx.read(buf, sizeof buf), 1u);
    EXPECT_EQ(buf[0], 'a');
  }
  EXPECT_FALSE(RingPair::create(0));
}

// Verifies attach() refuses a layout whose capacity field makes the mapping's size wrap around
// (capacity + 2^63 passed the size check and put ring 1 far outside the mapping; found by
// tests/fuzz/fuzz_ring).
TEST(IpcRing, AttachRefusesCapacityThatWrapsTheSize) {
  auto a = RingPair::create(64);
  ASSERT_TRUE(a);
  void* view = ::mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd(), 0);
  ASSERT_NE(view, MAP_FAILED);
  static_cast<std::uint64_t*>(view)[1] += std::uint64_t{1} << 63;  // magic, then capacity
  EXPECT_FALSE(RingPair::attach(a->fd()));
  ::munmap(view, 64);
}

// Runs the loop until done() or 20 s (a stuck test fails instead of hanging).
void run_until(const std::function<bool()>& done) {
  const auto loop = cluster::loop();
  const uint64_t deadline = uv_now(loop) + 20000;
  while (!done() && uv_now(loop) < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    uv_update_time(loop);
  }
}

// A TCP socket bound to a loopback port of the kernel's choosing; port() tells it apart.
int bound_socket() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  return s;
}

int port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return -1;
  return ntohs(sa.sin_port);
}

// A socketpair and 4 KiB rings mapped twice, both descriptors closed: one mapping for the
// primary's Channel, one for its peer (a Channel, or the test playing a hostile worker).
struct Wire {
  int sv[2] = {-1, -1};
  std::unique_ptr<RingPair> rings, peer_rings;
  bool ok() const { return sv[0] >= 0 && rings && peer_rings; }
};

Wire make_wire() {
  Wire w;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w.sv) != 0) return w;
  w.rings = RingPair::create(4096);
  if (!w.rings) return w;
  w.peer_rings = RingPair::attach(w.rings->fd());
  w.rings->close_fd();
  if (w.peer_rings) w.peer_rings->close_fd();
  return w;
}

// Verifies two Channels over rings of 4 KiB, neither busy-polling (so every wake-up goes through
// the socket): 300 frames each way arrive complete and in order, among them frames of 20 KiB
// (five times the ring) and frames carrying descriptors, each matched to its own frame; after
// one side ends, the other reads everything written before and then sees the peer's end.
TEST(IpcRing, ChannelsKeepOrderSizesAndDescriptors) {
  auto w = make_wire();
  ASSERT_TRUE(w.ok());
  Channel primary(w.sv[0], Serialization::json, 1 << 20);
  Channel worker(w.sv[1], Serialization::json, 1 << 20);
  primary.use_rings(std::move(w.rings), true);
  worker.use_rings(std::move(w.peer_rings), false);
  ASSERT_TRUE(primary.uses_rings());

  constexpr int n = 300;
  std::vector<int> sent_ports(n, -1);
  std::vector<Message> at_worker, at_primary;
  std::vector<int> worker_ports;
  bool worker_saw_end = false;
  worker.start({[&](Message&& m) {
                  if (m.value("fd", false)) {
                    int f = worker.take_fd();
                    worker_ports.push_back(port(f));
                    if (f >= 0) ::close(f);
                  }
                  at_worker.push_back(std::move(m));
                },
                [](const ipc::DecodeError& e) { ADD_FAILURE() << e.detail; }, [&] { worker_saw_end = true; }, nullptr});
  primary.start({[&](Message&& m) { at_primary.push_back(std::move(m)); },
                 [](const ipc::DecodeError& e) { ADD_FAILURE() << e.detail; }, nullptr, nullptr});

  std::vector<int> sockets;
  for (int i = 0; i < n; ++i) {
    Message m = {{"i", i}};
    if (i % 50 == 7) m["body"] = std::string(20 * 1024, static_cast<char>('a' + i % 26));
    int fd = -1;
    if (i % 10 == 3) {
      fd = bound_socket();
      sockets.push_back(fd);
      sent_ports[i] = port(fd);
      m["fd"] = true;
    }
    primary.write(m, fd, nullptr);
    worker.write({{"j", i}}, -1, nullptr);
  }
  run_until([&] { return at_primary.size() == static_cast<std::size_t>(n); });
  // The last frames are still on their way to the worker: they are flushed first, then the end.
  primary.write({{"i", n}}, -1, nullptr);
  primary.end();
  run_until([&] { return worker_saw_end; });
  ASSERT_EQ(at_worker.size(), static_cast<std::size_t>(n + 1));
  at_worker.pop_back();
  ASSERT_EQ(at_worker.size(), static_cast<std::size_t>(n));
  std::vector<int> expected_ports;
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(at_worker[i]["i"], i);
    if (i % 50 == 7) EXPECT_EQ(at_worker[i]["body"].get_ref<const std::string&>().size(), 20u * 1024);
    if (sent_ports[i] >= 0) expected_ports.push_back(sent_ports[i]);
  }
  EXPECT_EQ(worker_ports, expected_ports);
  EXPECT_TRUE(worker_saw_end);
  EXPECT_TRUE(worker.closed_by_peer());
  ASSERT_EQ(at_primary.size(), static_cast<std::size_t>(n));  // read before it ended
  for (int i = 0; i < n; ++i) ASSERT_EQ(at_primary[i]["j"], i);
  for (int s : sockets) ::close(s);
}


// Verifies a peer that writes garbage into the rings' positions is a bad frame on this side
// (errc::bad_message) and the channel closes, without reading or writing outside the rings.
TEST(IpcRing, HostilePositionsCloseTheChannel) {
  auto w = make_wire();
  ASSERT_TRUE(w.ok());
  Channel primary(w.sv[0], Serialization::json, 1 << 20);
  primary.use_rings(std::move(w.rings), true);
  std::error_code bad;
  int messages = 0;
  primary.start({[&](Message&&) { ++messages; }, [&](const ipc::DecodeError& e) { bad = e.code; }, nullptr, nullptr});
  // The worker's ring says it published 1 MiB, then the worker wakes the primary.
  w.peer_rings->tx(false).header()->tail.store(1u << 20);
  const char b = 0;
  ASSERT_EQ(::write(w.sv[1], &b, 1), 1);
  run_until([&] { return primary.closed(); });
  EXPECT_TRUE(primary.closed());
  EXPECT_EQ(bad, make_error_code(errc::bad_message));
  EXPECT_EQ(messages, 0);
  ::close(w.sv[1]);
}


// Verifies an ending channel whose socket is full (descriptors waiting) closes cleanly when the
// peer leaves: the failed write finishes the close and nothing reads the unmapped rings after.
TEST(IpcRing, EndingChannelWhosePeerLeavesClosesCleanly) {
  auto w = make_wire();
  ASSERT_TRUE(w.ok());
  Channel primary(w.sv[0], Serialization::json, 1 << 20);
  primary.use_rings(std::move(w.rings), true);
  primary.start({[](Message&&) {}, [](const ipc::DecodeError&) {}, nullptr, nullptr});
  // Fill the socket (the peer reads nothing), so the descriptor below cannot leave.
  const std::string junk(4096, 'x');
  int guard = 0;
  while (::send(primary.fd(), junk.data(), junk.size(), MSG_DONTWAIT) > 0 && ++guard < 100000) {
  }
  int carried = bound_socket();
  std::error_code outcome;
  bool called = false;
  primary.write({{"cmd", "NODE_HANDLE"}}, carried, [&](std::error_code ec) {
    called = true;
    outcome = ec;
  });
  uv_run(cluster::loop(), UV_RUN_NOWAIT);  // the flush meets a full socket
  ASSERT_GT(primary.write_queue_size(), 0u);
  primary.end();
  ASSERT_FALSE(primary.closed());
  // The peer reads everything and leaves: the socket is writable again and hung up at once.
  char sink[4096];
  while (::recv(w.sv[1], sink, sizeof sink, MSG_DONTWAIT) > 0 && ++guard < 200000) {
  }
  ::close(w.sv[1]);
  run_until([&] { return primary.closed() && called; });
  EXPECT_TRUE(primary.closed());
  EXPECT_TRUE(called);
  EXPECT_TRUE(outcome);  // it never left
  ::close(carried);
}

}  // namespace
