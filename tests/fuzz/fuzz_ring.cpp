// Fuzzes the shared-memory ring positions a hostile peer controls (ipc::Ring, ipc::RingPair).
// The input is a list of operations: write arbitrary head/tail/flag values into a ring's shared
// header, then read, write and poll through the Ring API. One ring lives in heap memory of its
// exact size, so AddressSanitizer sees any byte touched outside it; every call is checked against
// a model (what it returns, which bytes it moves, where the positions end), and intact() must be
// false exactly when the positions are impossible. A real RingPair (memfd, mapped twice) takes the
// same operations, and attach() is given layouts with corrupted magic and capacity fields.
#include "fuzz_support.hpp"

#include "ipc/ring.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using cluster::ipc::Ring;
using cluster::ipc::RingPair;

namespace {

// What the positions allow: published bytes waiting, and whether that is possible at all.
struct Positions {
  std::uint64_t head, tail;
  std::uint64_t used() const { return tail - head; }
};

// The positions r's shared header holds now.
Positions positions(Ring& r) {
  return {r.header()->head.load(), r.header()->tail.load()};
}

// Writes one shared header field as a hostile peer would: an absolute value, or one near the
// other position (so both possible and impossible distances come up often).
void poke(Ring& r, fuzz::Input& in, std::size_t cap) {
  Ring::Header* h = r.header();
  const std::uint8_t how = in.u8();
  const std::uint64_t v = in.u64();
  const std::uint64_t near = v % (2 * cap + 3);
  switch (how % 6) {
    case 0: h->head.store(v); break;
    case 1: h->tail.store(v); break;
    case 2: h->head.store(h->tail.load() - near); break;
    case 3: h->tail.store(h->head.load() + near); break;
    case 4: h->reader_sleeping.store(static_cast<std::uint32_t>(v)); break;
    default: h->writer_waiting.store(static_cast<std::uint32_t>(v)); break;
  }
}

// Checks intact() and readable() against the positions.
void check_state(Ring& r, std::size_t cap) {
  const Positions p = positions(r);
  if (r.intact() != (p.used() <= cap)) fuzz::fail("intact() disagrees with the positions");
  if (r.readable() != (p.used() != 0)) fuzz::fail("readable() disagrees with the positions");
}

// Writes n bytes through the ring and checks the count and the positions; data, when known,
// is the ring's memory, checked byte for byte.
void check_write(Ring& r, std::size_t cap, std::size_t n, char* data) {
  const Positions before = positions(r);
  std::vector<char> src(n);
  for (std::size_t i = 0; i < n; ++i) src[i] = static_cast<char>(before.tail + i * 31);
  std::vector<char> old(data ? data : nullptr, data ? data + cap : nullptr);
  const std::size_t want = before.used() > cap ? 0 : std::min<std::uint64_t>(n, cap - before.used());
  const std::size_t got = r.write(src.data(), n);
  if (got != want) fuzz::fail("write() moved " + std::to_string(got) + " bytes, expected " + std::to_string(want));
  const Positions after = positions(r);
  if (after.head != before.head || after.tail != before.tail + got) fuzz::fail("write() left wrong positions");
  if (!data) return;
  // Contiguous from the tail's slot, wrapping at the ring's end. (Not (tail + i) % cap: for a
  // capacity that is not a power of two the two differ once a position passes 2^64, which only
  // a hostile peer can arrange and which garbles only that peer's own bytes.)
  for (std::size_t i = 0; i < got; ++i) old[(before.tail % cap + i) % cap] = src[i];
  if (std::memcmp(old.data(), data, cap) != 0) fuzz::fail("write() changed the wrong bytes");
}

// Reads up to max bytes and checks the count, the bytes (when the ring's memory is known) and
// the positions.
void check_read(Ring& r, std::size_t cap, std::size_t max, const char* data) {
  const Positions before = positions(r);
  std::vector<char> out(max + 1);
  const std::size_t want = before.used() > cap ? 0 : std::min<std::uint64_t>(max, before.used());
  const std::size_t got = r.read(out.data(), max);
  if (got != want) fuzz::fail("read() moved " + std::to_string(got) + " bytes, expected " + std::to_string(want));
  const Positions after = positions(r);
  if (after.tail != before.tail || after.head != before.head + got) fuzz::fail("read() left wrong positions");
  if (!data) return;
  for (std::size_t i = 0; i < got; ++i) {
    if (out[i] != data[(before.head % cap + i) % cap]) fuzz::fail("read() returned the wrong bytes");
  }
}

// The wake-up flags: a side may sleep (or wait) only when the ring says so, and learns once that
// it must wake the other.
void check_flags(Ring& r, std::size_t cap, std::uint8_t which) {
  Ring::Header* h = r.header();
  const Positions p = positions(r);
  switch (which % 5) {
    case 0: {
      const bool slept = r.reader_sleep();
      if (slept != (p.used() == 0) || h->reader_sleeping.load() != (slept ? 1u : 0u)) fuzz::fail("reader_sleep() is wrong");
      break;
    }
    case 1: {
      const std::uint32_t flag = h->reader_sleeping.load();
      if (r.reader_needs_wake() != (flag == 1) || h->reader_sleeping.load() != 0) fuzz::fail("reader_needs_wake() is wrong");
      break;
    }
    case 2: {
      const bool waits = r.writer_wait();
      if (waits != (p.used() == cap) || h->writer_waiting.load() != (waits ? 1u : 0u)) fuzz::fail("writer_wait() is wrong");
      break;
    }
    case 3: {
      const std::uint32_t flag = h->writer_waiting.load();
      if (r.writer_needs_wake() != (flag == 1) || h->writer_waiting.load() != 0) fuzz::fail("writer_needs_wake() is wrong");
      break;
    }
    default:
      r.reader_wake();
      if (h->reader_sleeping.load() != 0) fuzz::fail("reader_wake() left the flag set");
  }
}

// Runs the input's operations on ring r of capacity cap (data: its memory, when known).
void run_ops(fuzz::Input& in, Ring& r, std::size_t cap, char* data, int max_ops) {
  for (int i = 0; i < max_ops && !in.empty(); ++i) {
    const std::uint8_t op = in.u8();
    switch (op % 4) {
      case 0: poke(r, in, cap); break;
      case 1: check_write(r, cap, in.u16() % (2 * cap + 2), data); break;
      case 2: check_read(r, cap, in.u16() % (2 * cap + 2), data); break;
      default: check_flags(r, cap, static_cast<std::uint8_t>(op >> 2)); break;
    }
    check_state(r, cap);
  }
}

// A ring in heap memory of exactly its size, so ASan reports any access outside it.
void fuzz_heap_ring(fuzz::Input& in) {
  const std::size_t cap = 1 + in.u16() % 2048;
  auto header = std::make_unique<Ring::Header>();
  auto data = std::make_unique<char[]>(cap);
  Ring r(header.get(), data.get(), cap);
  run_ops(in, r, cap, data.get(), 200);
}

// A mapped RingPair seen from both ends: the peer's operations on one mapping, ours on the other.
void fuzz_mapped_pair(fuzz::Input& in) {
  const std::size_t cap = 1 + in.u16() % 4096;
  auto pair = RingPair::create(cap);
  if (!pair) fuzz::fail("RingPair::create failed");
  auto peer = RingPair::attach(pair->fd());
  if (!peer) fuzz::fail("RingPair::attach refused a fresh mapping");
  const bool primary = in.u8() & 1;
  Ring ours = (in.u8() & 1) ? pair->tx(primary) : pair->rx(primary);
  run_ops(in, ours, cap, nullptr, 100);
  Ring theirs = (in.u8() & 1) ? peer->rx(!primary) : peer->tx(!primary);
  run_ops(in, theirs, cap, nullptr, 100);
}

// attach() on a mapping whose layout (magic, capacity) the input corrupts: it must refuse, or
// place both rings, header and bytes, inside the mapping.
void fuzz_attach(fuzz::Input& in) {
  const std::size_t cap = 1 + in.u16() % 512;
  auto pair = RingPair::create(cap);
  if (!pair) fuzz::fail("RingPair::create failed");
  struct stat st {};
  ::fstat(pair->fd(), &st);
  void* view = ::mmap(nullptr, 64, PROT_READ | PROT_WRITE, MAP_SHARED, pair->fd(), 0);
  if (view == MAP_FAILED) fuzz::fail("mmap of the layout failed");
  auto* fields = static_cast<std::uint64_t*>(view);  // magic, capacity
  const std::uint8_t which = in.u8();
  if (which & 1) fields[0] ^= in.u64();
  if (which & 2) fields[1] += in.u64();  // an offset from the real capacity
  const std::uint64_t claimed = fields[1];
  ::munmap(view, 64);
  auto other = RingPair::attach(pair->fd());
  if (!other) return;
  // The layout block (64 bytes) comes first, then ring 0: that gives the mapping's start.
  const char* base = reinterpret_cast<const char*>(other->tx(true).header()) - 64;
  for (bool primary : {true, false}) {
    Ring r = other->tx(primary);
    const char* h = reinterpret_cast<const char*>(r.header());
    if (h < base || claimed > static_cast<std::uint64_t>(st.st_size) ||
        h + sizeof(Ring::Header) + claimed > base + st.st_size) {
      fuzz::fail("attach() placed a ring outside the mapping");
    }
    run_ops(in, r, static_cast<std::size_t>(claimed), nullptr, 20);
  }
}

}  // namespace

// libFuzzer's entry: the first byte picks the heap ring, a mapped pair or attach().
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  switch (in.u8() % 3) {
    case 0: fuzz_heap_ring(in); break;
    case 1: fuzz_mapped_pair(in); break;
    default: fuzz_attach(in); break;
  }
  return 0;
}
