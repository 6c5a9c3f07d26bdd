#include "ipc/channel.hpp"

#include "uv/tick.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cluster::ipc {
namespace {

constexpr std::size_t read_chunk = 64 * 1024;
constexpr int max_fds_per_read = 64;     // libuv reads room for this many
constexpr int max_reads_per_wakeup = 32;  // fairness between channels
constexpr int max_final_reads = 64;       // rounds of reads for what a departed peer left
constexpr int max_iov = 256;
constexpr std::size_t max_batch_bytes = 256 * 1024;  // flush at once past this much queued
// Frames share a buffer up to this size; then a new one starts, so a long burst of sends is a
// chain of heap-sized buffers instead of one buffer regrown (copied, page-faulted) to many MiB.
constexpr std::size_t coalesce_bytes = 64 * 1024;
// Busy-polling watches the socket itself for at most this long per loop turn.
constexpr std::uint64_t spin_slice_ns = 20 * 1000;

}  // namespace

Channel::Channel(int fd, Serialization mode, std::size_t max_frame)
    : fd_(fd), codec_(make_codec(mode, max_frame)) {
  int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  fcntl(fd_, F_SETFD, FD_CLOEXEC);
  read_buf_.resize(read_chunk);
  if (uv_poll_init_socket(uv::loop(), poll_.get(), fd_) == 0) {
    poll_.initialized();
    poll_.get()->data = this;
  }
}

Channel::~Channel() {
  *alive_ = false;
  poll_.close();
  for (const HeldFd& f : fds_) ::close(f.fd);
  if (fd_ >= 0) ::close(fd_);
}

void Channel::set_busy_poll(unsigned budget_us) {
  spin_ns_ = std::uint64_t{budget_us} * 1000;
  if (!spin_ns_ && spin_.valid()) uv_idle_stop(spin_.get());
}

void Channel::hot() {
  if (!spin_ns_ || closed_) return;
  last_active_ = uv_hrtime();
  if (spin_.valid() && uv_is_active(spin_.base())) return;
  if (!spin_.valid()) {
    if (uv_idle_init(uv::loop(), spin_.get()) != 0) return;
    spin_.initialized();
    spin_.get()->data = this;
    uv_unref(spin_.base());  // polls without keeping the loop alive
  }
  uv_idle_start(spin_.get(), [](uv_idle_t* h) {
    auto* self = static_cast<Channel*>(h->data);
    if (!self) return;
    const std::uint64_t now = uv_hrtime();
    if (now - self->last_active_ > self->spin_ns_) {
      uv_idle_stop(h);
      return;
    }
    // Read this socket directly for a short slice (a non-blocking recvmsg costs less than a loop
    // turn with its epoll_wait); then give the loop back so other handles are served.
    const std::uint64_t slice_end = now + std::min<std::uint64_t>(self->spin_ns_, spin_slice_ns);
    auto alive = self->alive_;
    while (*alive && self->reading_ && !self->closed_ && uv_hrtime() < slice_end) {
      uv::CallbackScope scope;  // ticks (an answer's write) run before the next read
      if (!self->rings_) {
        self->on_readable();  // EAGAIN returns at once; data, end of stream or errors as usual
        continue;
      }
      // Rings: a look at memory, no system call; the socket is left to the loop's poll.
      if (self->rx_->readable()) self->read_ring();
      if (*alive && !self->closed_ && !self->queue_.empty() && !self->write_blocked_) self->flush_rings();
    }
  });
}

void Channel::start(Callbacks cb) {
  cb_ = std::move(cb);
  reading_ = true;
  update_poll();
}

void Channel::ref() {
  reffed_ = true;
  if (poll_.valid()) uv_ref(poll_.base());
}

void Channel::unref() {
  reffed_ = false;
  if (poll_.valid()) uv_unref(poll_.base());
}

int Channel::take_fd() {
  // With rings the descriptor was sent before its frame was published: it is in the socket.
  if (fds_.empty() && rings_ && !closed_) drain_socket();
  if (fds_.empty()) return -1;
  int f = fds_.front().fd;
  fds_.pop_front();
  return f;
}

void Channel::release_unclaimed() {
  if (rings_) return;
  while (!fds_.empty() && fds_.front().read < frame_start_) {
    ::close(fds_.front().fd);
    fds_.pop_front();
  }
}

bool Channel::too_many_fds() {
  if (!max_held_fds_ || fds_.size() <= max_held_fds_) return false;
  const DecodeError err{make_error_code(errc::limit_exceeded),
                        "the peer sent more than " + std::to_string(max_held_fds_) +
                            " descriptors that no NODE_HANDLE frame claimed"};
  if (report_bad(err)) finish_close(err.code);
  return true;
}

void Channel::complete(WriteCallback cb, std::error_code ec) {
  if (cb) uv::next_tick([cb = std::move(cb), ec] { cb(ec); });
}

void Channel::fail_write(WriteCallback cb, std::error_code ec) {
  // A message that cannot be encoded goes nowhere: its callback, or else write_error, says so.
  if (cb) {
    complete(std::move(cb), ec);
    return;
  }
  auto alive = alive_;
  uv::next_tick([this, alive, ec] {
    if (*alive && cb_.write_error) cb_.write_error(ec);
  });
}

void Channel::write(const Message& msg, int send_fd, WriteCallback cb) {
  if (closed_ || ending_) {
    complete(std::move(cb), make_error_code(errc::channel_closed));
    return;
  }
  if (broken_) {
    complete(std::move(cb), broken_);
    return;
  }
  if (send_fd < 0 && !queue_.empty() && queue_.back().fd < 0 && !queue_.back().cb &&
      queue_.back().bytes.size() < coalesce_bytes) {
    // Frames without a descriptor share one buffer until the batch leaves.
    Pending& tail = queue_.back();
    const std::size_t before = tail.bytes.size();
    if (auto ec = codec_->encode(msg, tail.bytes)) {
      tail.bytes.resize(before);
      fail_write(std::move(cb), ec);
      return;
    }
    queued_bytes_ += tail.bytes.size() - before;
    tail.cb = std::move(cb);
    schedule_flush();
    return;
  }
  Pending p;
  if (send_fd < 0 && !queue_.empty()) p.bytes.reserve(coalesce_bytes + 4096);  // a burst: room for more
  if (auto ec = codec_->encode(msg, p.bytes)) {
    fail_write(std::move(cb), ec);
    return;
  }
  p.fd = send_fd;
  p.cb = std::move(cb);
  queued_bytes_ += p.bytes.size();
  queue_.push_back(std::move(p));
  schedule_flush();
}

void Channel::schedule_flush() {
  // Frames written during one loop callback leave together in one sendmsg at the next tick (or
  // at once past the batch limit): a syscall per batch instead of per message. The tick runs
  // before the loop polls again, so nothing waits on I/O for it.
  // Past a batch, write now; if the socket was full, try again once another batch has queued (a
  // long synchronous burst then recycles its buffers as the peer reads, instead of growing).
  if (queued_bytes_ >= max_batch_bytes && (!write_blocked_ || queued_bytes_ >= blocked_at_ + max_batch_bytes)) {
    flush();
    return;
  }
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  auto alive = alive_;
  uv::next_tick([this, alive] {
    if (!*alive) return;
    flush_scheduled_ = false;
    flush();
  });
}

void Channel::flush() {
  if (rings_) {
    flush_rings();
    return;
  }
  while (!queue_.empty() && !closed_) {
    Pending& head = queue_.front();
    ssize_t n;
    if (head.fd >= 0 && head.offset == 0) {
      // A descriptor goes out alone, on the first byte of its frame; with batching, the frames
      // that follow go along and their descriptors ride on the same first byte, in order.
      iovec iov[max_iov];
      int fds[max_fds_per_read];
      int count = 0, nfds = 0;
      for (auto& p : queue_) {
        // A batch is a run of frames that all carry descriptors: a frame without one after
        // them would tell the peer (release_unclaimed) that the batch's descriptors are stale.
        if (count == max_iov || (count > 0 && (!batch_fds_ || p.fd < 0)) || (p.fd >= 0 && nfds == max_fds_per_read)) {
          break;
        }
        if (p.fd >= 0) fds[nfds++] = p.fd;
        iov[count].iov_base = p.bytes.data() + p.offset;
        iov[count].iov_len = p.bytes.size() - p.offset;
        ++count;
      }
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_read)] = {};
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = static_cast<std::size_t>(count);
      mh.msg_control = control;
      mh.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(nfds));
      cmsghdr* cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(nfds));
      std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * static_cast<std::size_t>(nfds));
      do {
        n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        // Sent exactly once, as libuv does after any successful sendmsg.
        int i = 0;
        for (auto it = queue_.begin(); i < count; ++it, ++i) it->fd = -1;
      }
    } else {
      iovec iov[max_iov];
      int count = 0;
      for (auto& p : queue_) {
        if (count == max_iov || (count > 0 && p.fd >= 0)) break;
        iov[count].iov_base = p.bytes.data() + p.offset;
        iov[count].iov_len = p.bytes.size() - p.offset;
        ++count;
      }
      msghdr mh{};
      mh.msg_iov = iov;
      mh.msg_iovlen = static_cast<std::size_t>(count);
      do {
        n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        write_blocked_ = true;
        blocked_at_ = queued_bytes_;
        break;
      }
      write_failed(-errno);
      return;
    }
    hot();
    write_blocked_ = false;
    auto left = static_cast<std::size_t>(n);
    queued_bytes_ -= left;
    while (left > 0 && !queue_.empty()) {
      Pending& p = queue_.front();
      std::size_t rest = p.bytes.size() - p.offset;
      if (left < rest) {
        p.offset += left;
        if (p.fd >= 0) p.fd = -1;
        left = 0;
        break;
      }
      left -= rest;
      complete(std::move(p.cb), {});
      queue_.pop_front();
    }
  }
  if (queue_.empty() && ending_) {
    finish_close({});
    return;
  }
  update_poll();
}

void Channel::write_failed(int status) {
  // The socket cannot be written (EPIPE, ECONNRESET: the peer is gone). Every queued write and
  // every later one fails with that error, and the channel ends as the peer's end, on a later
  // tick and after reading what the peer wrote before it left. Until now a failed write left the
  // channel open: a sender that retried on failure (the round-robin hand-out) wrote to it again at
  // the next tick, forever, and the loop never got to read the end that would have stopped it.
  const std::error_code ec = uv_error(status);
  broken_ = ec;
  closed_by_peer_ = true;  // nothing written from now on can reach it
  bool uncovered = false;
  while (!queue_.empty()) {
    if (queue_.front().cb) {
      complete(std::move(queue_.front().cb), ec);
    } else {
      uncovered = true;
    }
    queue_.pop_front();
  }
  queued_bytes_ = 0;
  auto alive = alive_;
  if (uncovered && cb_.write_error) {
    uv::next_tick([this, alive, ec] {
      if (*alive && cb_.write_error) cb_.write_error(ec);
    });
  }
  if (ending_) {
    finish_close(ec);
    return;
  }
  update_poll();
  uv::next_tick([this, alive, ec] {
    if (!*alive || closed_) return;
    // What the peer wrote before it left is still in the socket (or the ring): deliver it first.
    for (int round = 0; round < max_final_reads && *alive && reading_ && !closed_; ++round) on_readable();
    if (*alive) peer_ended(ec);
  });
}

void Channel::update_poll() {
  if (!poll_.valid() || closed_) return;
  int want = 0;
  // With rings, a writer waiting for room is woken through the socket, even once it has ended.
  if (reading_ || (rings_ && !queue_.empty())) want |= UV_READABLE | UV_DISCONNECT;
  // With rings the socket is written only for descriptors: wait for it only when it was full.
  if (rings_ ? write_blocked_ : !queue_.empty()) want |= UV_WRITABLE;
  if (want == poll_events_) return;
  poll_events_ = want;
  if (want == 0) {
    uv_poll_stop(poll_.get());
  } else {
    uv_poll_start(poll_.get(), want, &Channel::on_poll);
  }
  if (!reffed_) uv_unref(poll_.base());
}

void Channel::on_poll(uv_poll_t* h, int status, int events) {
  auto* self = static_cast<Channel*>(h->data);
  if (!self) return;
  uv::CallbackScope scope;
  auto alive = self->alive_;
  if (status < 0) {
    // libuv reports POLLERR as UV_EBADF: the socket has an error (the peer closed it with data
    // unread, ECONNRESET). What the peer wrote before that is still readable: read it first.
    if (self->reading_) self->on_readable();
    if (*alive) self->peer_ended(uv_error(status));
    return;
  }
  if (events & UV_WRITABLE) {
    self->write_blocked_ = false;
    self->flush();
    if (!*alive || self->closed_) return;  // an ending channel may have finished closing
  }
  if (events & (UV_READABLE | UV_DISCONNECT)) self->on_readable();
}

void Channel::on_readable() {
  if (rings_) {
    on_readable_rings();
    return;
  }
  for (int round = 0; round < max_reads_per_wakeup && reading_ && !closed_; ++round) {
    const ssize_t n = receive(read_buf_.data(), read_buf_.size());
    if (n == -EAGAIN) return;
    if (n <= 0) {
      // The end, or ECONNRESET and the like: the socket is unusable both ways.
      peer_ended(n == 0 ? std::error_code{} : uv_error(static_cast<int>(n)));
      return;
    }
    if (too_many_fds()) return;
    if (!deliver(read_buf_.data(), static_cast<std::size_t>(n))) return;
    if (static_cast<std::size_t>(n) < read_buf_.size()) return;  // drained for now
  }
}

ssize_t Channel::receive(char* buf, std::size_t len) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_read)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd_, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  if (n > 0) ++reads_;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      fds_.push_back({f, reads_});
    }
  }
  return n;
}

void Channel::peer_ended(std::error_code ec) {
  if (closed_) return;
  closed_by_peer_ = true;
  // The peer left in the middle of a frame: that message is lost, which is an error.
  if (!ec && codec_->buffering() &&
      !report_bad({make_error_code(errc::bad_message), "the channel ended inside a frame"})) {
    return;
  }
  finish_close(ec);
}

bool Channel::report_bad(const DecodeError& err) {
  reading_ = false;
  auto alive = alive_;
  auto bad = cb_.bad_frame;
  if (bad) bad(err);
  return *alive;
}

bool Channel::deliver(const char* data, std::size_t n) {
  auto alive = alive_;
  hot();
  DecodeError err;
  // Which read each frame began in (release_unclaimed): the first one may have begun earlier.
  const std::uint64_t read = reads_;
  const bool continues = codec_->buffering();
  bool first = true;
  bool ok = codec_->feed(std::string_view(data, n),
                         [&](Message&& m) {
                           frame_start_ = first && continues ? partial_start_ : read;
                           first = false;
                           if (*alive && !closed_ && cb_.message) cb_.message(std::move(m));
                         },
                         err);
  if (*alive && (!first || !continues)) partial_start_ = read;
  if (!*alive) return false;
  if (!ok && !closed_) {
    if (report_bad(err)) finish_close(err.code);
    return false;
  }
  return !closed_;
}

void Channel::use_rings(std::unique_ptr<RingPair> rings, bool primary) {
  tx_.emplace(rings->tx(primary));
  rx_.emplace(rings->rx(primary));
  rings_ = std::move(rings);
  batch_fds_ = true;  // the peer is this program
  if (uv_prepare_init(uv::loop(), prepare_.get()) == 0) {
    prepare_.initialized();
    prepare_.get()->data = this;
    uv_prepare_start(prepare_.get(), [](uv_prepare_t* h) {
      auto* self = static_cast<Channel*>(h->data);
      if (!self || !self->reading_ || self->closed_) return;
      if (self->spin_.valid() && uv_is_active(self->spin_.base())) return;  // not going to sleep
      if (self->rx_->reader_sleep()) return;
      self->read_later();  // published meanwhile: the loop does not sleep, the next turn reads
    });
    uv_unref(prepare_.base());
  }
  if (uv_check_init(uv::loop(), check_.get()) == 0) {
    check_.initialized();
    check_.get()->data = this;
    uv_check_start(check_.get(), [](uv_check_t* h) {
      auto* self = static_cast<Channel*>(h->data);
      if (self && self->rx_) self->rx_->reader_wake();
    });
    uv_unref(check_.base());
  }
}

int Channel::drain_socket() {
  int result = 0;
  bool got = false;
  for (int round = 0; round < max_reads_per_wakeup; ++round) {
    char bytes[256];  // wake-up bytes and the bytes descriptors ride on: read and dropped
    const ssize_t n = receive(bytes, sizeof bytes);
    if (n <= 0) {
      result = n == 0 ? 1 : n == -EAGAIN ? 0 : static_cast<int>(n);
      break;
    }
    got = true;
    if (static_cast<std::size_t>(n) < sizeof bytes) break;
  }
  // Any byte read may have said the peer made room: queued frames try the ring again.
  if (got && !queue_.empty() && !write_blocked_) schedule_flush();
  return result;
}

void Channel::on_readable_rings() {
  auto alive = alive_;
  rx_->reader_wake();
  const int r = drain_socket();
  if (too_many_fds()) return;
  // Everything published comes first, even from a peer that has just left.
  read_ring();
  if (*alive && r != 0) peer_ended(r == 1 ? std::error_code{} : uv_error(r));
}

void Channel::read_ring() {
  // Bounded like a socket read, so a peer that keeps the ring full cannot hold the loop.
  for (int round = 0; round < max_reads_per_wakeup && reading_ && !closed_; ++round) {
    const std::size_t n = rx_->read(read_buf_.data(), read_buf_.size());
    if (n == 0) {
      if (!rx_->intact()) ring_broken();
      return;
    }
    if (rx_->writer_needs_wake()) wake_peer();
    if (!deliver(read_buf_.data(), n)) return;
  }
  if (reading_ && !closed_ && rx_->readable()) read_later();
}

void Channel::read_later() {
  // An active idle handle makes the loop poll without sleeping; its turn reads the ring.
  if (!again_.valid()) {
    if (uv_idle_init(uv::loop(), again_.get()) != 0) return;
    again_.initialized();
    again_.get()->data = this;
  }
  uv_idle_start(again_.get(), [](uv_idle_t* h) {
    uv_idle_stop(h);
    auto* self = static_cast<Channel*>(h->data);
    if (!self || self->closed_) return;
    uv::CallbackScope scope;
    self->read_ring();
  });
}

void Channel::wake_peer() {
  // One byte makes the peer's socket readable. EAGAIN: unread bytes will wake it anyway; a peer
  // that is gone shows up as the end of the socket.
  const char b = 0;
  ssize_t n;
  do {
    n = ::send(fd_, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
}

void Channel::flush_rings() {
  bool wrote = false;
  while (!queue_.empty() && !closed_ && !ring_broken_) {
    Pending& head = queue_.front();
    if (head.fd >= 0) {
      // Descriptors go first, on one byte of their own (up to 64 at once, in frame order); their
      // frames follow through the ring, where the peer's take_fd() finds them already waiting.
      int fds[max_fds_per_read];
      int nfds = 0;
      for (auto& p : queue_) {
        if (nfds == max_fds_per_read) break;
        if (p.fd >= 0) fds[nfds++] = p.fd;
      }
      char b = 0;
      iovec iov{&b, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_read)] = {};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = control;
      mh.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(nfds));
      cmsghdr* cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(nfds));
      std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * static_cast<std::size_t>(nfds));
      ssize_t n;
      do {
        n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        write_blocked_ = true;
        break;
      }
      if (n < 0) {
        write_failed(-errno);
        return;
      }
      int left = nfds;
      for (auto& p : queue_) {
        if (left == 0) break;
        if (p.fd >= 0) {
          p.fd = -1;
          --left;
        }
      }
    }
    const std::size_t n = tx_->write(head.bytes.data() + head.offset, head.bytes.size() - head.offset);
    if (n == 0) {
      if (!tx_->intact()) {
        ring_broken();
        break;
      }
      if (tx_->writer_wait()) break;  // full: the reader wakes us when it has made room
      continue;
    }
    wrote = true;
    queued_bytes_ -= n;
    head.offset += n;
    if (head.offset == head.bytes.size()) {
      complete(std::move(head.cb), {});
      queue_.pop_front();
    }
  }
  if (wrote) {
    write_blocked_ = false;
    hot();
    if (tx_->reader_needs_wake()) wake_peer();
  }
  if (queue_.empty() && ending_) {
    finish_close({});
    return;
  }
  update_poll();
}

void Channel::ring_broken() {
  // Reported on the next tick, as a bad frame is: this may be inside a write() of the user's.
  if (ring_broken_) return;
  ring_broken_ = true;
  reading_ = false;
  auto alive = alive_;
  uv::next_tick([this, alive] {
    if (!*alive || closed_) return;
    const DecodeError err{make_error_code(errc::bad_message),
                          "the peer wrote impossible positions into the shared-memory ring"};
    if (report_bad(err)) finish_close(err.code);
  });
}

void Channel::finish_close(std::error_code) {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  while (!queue_.empty()) {
    complete(std::move(queue_.front().cb), make_error_code(errc::channel_closed));
    queue_.pop_front();
  }
  queued_bytes_ = 0;
  poll_.close();
  spin_.close();
  again_.close();
  prepare_.close();
  check_.close();
  tx_.reset();
  rx_.reset();
  rings_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  for (const HeldFd& f : fds_) ::close(f.fd);  // nothing can claim them any more
  fds_.clear();
  auto end = std::move(cb_.end);
  cb_ = {};
  if (end) end();
}

void Channel::close() {
  if (closed_) return;
  cb_.end = nullptr;  // a deliberate close is not reported as the peer's end
  finish_close({});
}

void Channel::end() {
  if (closed_) return;
  reading_ = false;
  ending_ = true;
  cb_.message = nullptr;
  cb_.end = nullptr;
  if (queue_.empty()) {
    finish_close({});
  } else {
    flush();
  }
}

}  // namespace cluster::ipc
