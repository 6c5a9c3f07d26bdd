// Beyond Node: a shared-memory byte ring for each direction of a worker's channel, used when both
// ends busy-poll and the worker is this same program. The frames are the channel's own (same
// codec); only the bytes move through memory instead of the socket, so a busy-polling reader
// sees a message without a system call. The socket stays: it carries the descriptors of
// NODE_HANDLE frames (sent before their frame is published, so they are there when the frame is
// read), one-byte wake-ups for a reader that went to sleep or a writer waiting for room, and the
// end of the channel.
//
// The peer is not trusted: whatever it writes to the shared positions, this side never copies
// outside its own mapping (a bad position reads as a broken ring, see intact()).
//
// Each ring is single-producer single-consumer. The sleeping/waiting flags follow the event-count
// pattern: the side about to sleep sets its flag and checks the ring again; the other side
// publishes and then checks the flag (both sequentially consistent), so one of them always sees
// the other and no wake-up is lost.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace cluster::ipc {

class Ring {
 public:
  struct alignas(64) Header {
    alignas(64) std::atomic<std::uint64_t> head;  // bytes consumed
    alignas(64) std::atomic<std::uint64_t> tail;  // bytes published
    alignas(64) std::atomic<std::uint32_t> reader_sleeping;
    alignas(64) std::atomic<std::uint32_t> writer_waiting;
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");

  Ring(Header* h, char* data, std::size_t capacity) : h_(h), data_(data), cap_(capacity) {}

  // Copies as much of [p, p+n) as fits and publishes it; returns the bytes written (0: full).
  std::size_t write(const char* p, std::size_t n);
  // Copies up to max published bytes to out and frees their room; returns the bytes read.
  std::size_t read(char* out, std::size_t max);
  // Whether published bytes wait to be read (a sequentially consistent look).
  bool readable() const;
  // False once the positions in shared memory are impossible (the peer wrote garbage there):
  // read() and write() then move nothing, and the channel treats it as a bad frame.
  bool intact() const;
  // The shared header (a test writes garbage there to play a hostile peer).
  Header* header() noexcept { return h_; }

  // The reader is about to sleep: true if it may (nothing to read), else it stays awake.
  bool reader_sleep();
  // The reader is awake again.
  void reader_wake() { h_->reader_sleeping.store(0, std::memory_order_relaxed); }
  // After publishing: true if the reader was asleep and must be woken (only one writer wins).
  bool reader_needs_wake();
  // The writer found the ring full and will wait: true if it may (still full), else retry now.
  bool writer_wait();
  // After reading: true if the writer waits for room and must be woken.
  bool writer_needs_wake();

 private:
  Header* h_;
  char* data_;
  std::size_t cap_;
};

// The two rings of one channel, in one shared mapping: ring 0 carries primary -> worker bytes,
// ring 1 worker -> primary.
class RingPair {
 public:
  // Bytes per direction.
  static constexpr std::size_t default_capacity = 256 * 1024;

  // A new anonymous shared mapping (memfd) for a worker about to be spawned; nullptr (errno set)
  // when memory cannot be had or capacity is 0 or above 2^40. fd() is what the worker inherits.
  static std::unique_ptr<RingPair> create(std::size_t capacity = default_capacity);
  // Maps the rings a primary made (the descriptor may be closed afterwards); nullptr when fd is
  // not such a mapping.
  static std::unique_ptr<RingPair> attach(int fd);
  ~RingPair();
  RingPair(const RingPair&) = delete;
  RingPair& operator=(const RingPair&) = delete;

  // The memfd (owned; -1 once closed).
  int fd() const noexcept { return fd_; }
  void close_fd();
  // This side's rings: primary writes ring 0 and reads ring 1; a worker the other way round.
  Ring tx(bool primary) { return primary ? ring(0) : ring(1); }
  Ring rx(bool primary) { return primary ? ring(1) : ring(0); }

 private:
  RingPair(int fd, void* base, std::size_t size, std::size_t capacity)
      : fd_(fd), base_(base), size_(size), capacity_(capacity) {}
  Ring ring(int i);

  int fd_;
  void* base_;
  std::size_t size_;
  std::size_t capacity_;
};

}  // namespace cluster::ipc
