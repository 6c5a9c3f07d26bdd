#include "ipc/ring.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace cluster::ipc {
namespace {

constexpr std::uint64_t magic = 0x63707063'72696e67;  // "cppcring"

struct Layout {
  std::uint64_t magic;
  std::uint64_t capacity;
};

constexpr std::size_t layout_bytes = 64;
// Far beyond any real ring; keeps total_bytes() from wrapping, so a layout whose capacity field
// was tampered with cannot pass attach()'s size check and place a ring outside the mapping.
constexpr std::size_t max_capacity = std::size_t{1} << 40;
// A ring's header, then its bytes rounded up so that the next ring's header is aligned too.
constexpr std::size_t ring_bytes(std::size_t capacity) {
  constexpr std::size_t align = alignof(Ring::Header);
  return sizeof(Ring::Header) + (capacity + align - 1) / align * align;
}
constexpr std::size_t total_bytes(std::size_t capacity) { return layout_bytes + 2 * ring_bytes(capacity); }

}  // namespace

std::size_t Ring::write(const char* p, std::size_t n) {
  const std::uint64_t tail = h_->tail.load(std::memory_order_relaxed);  // ours alone
  const std::uint64_t head = h_->head.load(std::memory_order_acquire);
  if (tail - head > cap_) return 0;  // broken by the peer
  n = std::min<std::size_t>(n, cap_ - static_cast<std::size_t>(tail - head));
  if (n == 0) return 0;
  const std::size_t pos = static_cast<std::size_t>(tail % cap_);
  const std::size_t first = std::min(n, cap_ - pos);
  std::memcpy(data_ + pos, p, first);
  std::memcpy(data_, p + first, n - first);
  h_->tail.store(tail + n, std::memory_order_seq_cst);
  return n;
}

std::size_t Ring::read(char* out, std::size_t max) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);  // ours alone
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  if (tail - head > cap_) return 0;  // broken by the peer
  const std::size_t n = std::min<std::size_t>(max, static_cast<std::size_t>(tail - head));
  if (n == 0) return 0;
  const std::size_t pos = static_cast<std::size_t>(head % cap_);
  const std::size_t first = std::min(n, cap_ - pos);
  std::memcpy(out, data_ + pos, first);
  std::memcpy(out + first, data_, n - first);
  h_->head.store(head + n, std::memory_order_seq_cst);
  return n;
}

bool Ring::readable() const {
  return h_->tail.load(std::memory_order_seq_cst) != h_->head.load(std::memory_order_relaxed);
}

bool Ring::intact() const {
  return h_->tail.load(std::memory_order_seq_cst) - h_->head.load(std::memory_order_seq_cst) <= cap_;
}

bool Ring::reader_sleep() {
  h_->reader_sleeping.store(1, std::memory_order_seq_cst);
  if (!readable()) return true;
  h_->reader_sleeping.store(0, std::memory_order_relaxed);
  return false;
}

bool Ring::reader_needs_wake() {
  if (h_->reader_sleeping.load(std::memory_order_seq_cst) == 0) return false;
  return h_->reader_sleeping.exchange(0, std::memory_order_seq_cst) == 1;
}

bool Ring::writer_wait() {
  h_->writer_waiting.store(1, std::memory_order_seq_cst);
  const std::uint64_t head = h_->head.load(std::memory_order_seq_cst);
  if (h_->tail.load(std::memory_order_relaxed) - head == cap_) return true;
  h_->writer_waiting.store(0, std::memory_order_relaxed);
  return false;
}

bool Ring::writer_needs_wake() {
  if (h_->writer_waiting.load(std::memory_order_seq_cst) == 0) return false;
  return h_->writer_waiting.exchange(0, std::memory_order_seq_cst) == 1;
}

std::unique_ptr<RingPair> RingPair::create(std::size_t capacity) {
  if (capacity == 0 || capacity > max_capacity) {
    errno = EINVAL;
    return nullptr;
  }
  const int fd = ::memfd_create("cppcluster-ipc-ring", MFD_CLOEXEC);
  if (fd < 0) return nullptr;
  const std::size_t size = total_bytes(capacity);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return nullptr;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return nullptr;
  }
  // A fresh memfd reads as zeros: the positions and flags start at 0.
  auto* layout = static_cast<Layout*>(base);
  layout->magic = magic;
  layout->capacity = capacity;
  return std::unique_ptr<RingPair>(new RingPair(fd, base, size, capacity));
}

std::unique_ptr<RingPair> RingPair::attach(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(layout_bytes)) return nullptr;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return nullptr;
  const auto* layout = static_cast<const Layout*>(base);
  if (layout->magic != magic || layout->capacity == 0 || layout->capacity > max_capacity ||
      total_bytes(layout->capacity) != size) {
    ::munmap(base, size);
    return nullptr;
  }
  return std::unique_ptr<RingPair>(new RingPair(fd, base, size, static_cast<std::size_t>(layout->capacity)));
}

RingPair::~RingPair() {
  ::munmap(base_, size_);
  close_fd();
}

void RingPair::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Ring RingPair::ring(int i) {
  char* at = static_cast<char*>(base_) + layout_bytes + static_cast<std::size_t>(i) * ring_bytes(capacity_);
  auto* h = std::launder(reinterpret_cast<Ring::Header*>(at));
  return Ring(h, at + sizeof(Ring::Header), capacity_);
}

}  // namespace cluster::ipc
