// The IPC channel: one end of an AF_UNIX stream socketpair, framed by a codec, carrying socket
// descriptors as SCM_RIGHTS on the first byte of the frame they belong to (libuv's uv_write2 rule).
#pragma once

#include "ipc/codec.hpp"
#include "ipc/ring.hpp"
#include "uv/handle.hpp"

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace cluster::ipc {

using WriteCallback = std::function<void(std::error_code)>;

class Channel {
 public:
  struct Callbacks {
    std::function<void(Message&&)> message;         // a decoded frame
    std::function<void(const DecodeError&)> bad_frame;  // the stream is unusable; closed after
    std::function<void()> end;                      // the peer closed or the socket failed
    std::function<void(std::error_code)> write_error;  // writes without a callback failed
  };

  // Takes ownership of fd (made non-blocking here).
  Channel(int fd, Serialization mode, std::size_t max_frame);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  // Starts reading; callbacks run on the loop until the channel closes.
  void start(Callbacks cb);
  // Queues msg's frame; send_fd (or -1) rides on its first byte and must stay open until cb runs.
  // cb (may be empty) gets the outcome on a later tick; errc::channel_closed once closed.
  void write(const Message& msg, int send_fd, WriteCallback cb);
  // Takes the oldest received descriptor not yet claimed by a NODE_HANDLE frame; -1 if none.
  int take_fd();
  // Called for a frame being delivered that claims no descriptor (not a NODE_HANDLE): closes the
  // descriptors that arrived before that frame began, which no frame can claim any more (a
  // descriptor rides on the first byte of its own frame, and a batch of them on the first byte
  // of a run of NODE_HANDLE frames). Over the rings, descriptors travel apart from their frames:
  // there only the bound of set_max_held_fds() applies.
  void release_unclaimed();
  // Beyond Node: a peer holding more than n received, unclaimed descriptors here is cut off with
  // a bad_frame of errc::limit_exceeded (0, the default: no bound).
  void set_max_held_fds(std::size_t n) { max_held_fds_ = n; }
  // Descriptors received and not yet claimed.
  std::size_t held_fds() const noexcept { return fds_.size(); }
  // Stops reading, fails queued writes with errc::channel_closed, closes the socket now.
  void close();
  // Stops reading now and closes the socket once queued writes are flushed (or fail).
  void end();
  bool closed() const noexcept { return closed_; }
  // True when it closed because the peer's end did (end of stream, reset, broken pipe): the peer
  // reads nothing more. False while open or when this side closed it (close(), end(), a bad frame).
  bool closed_by_peer() const noexcept { return closed_by_peer_; }
  // True while part of a frame is buffered (Node's channel.buffering).
  bool buffering() const { return codec_->buffering(); }
  // Bytes waiting to be written (Node's writeQueueSize).
  std::size_t write_queue_size() const noexcept { return queued_bytes_; }
  // Whether the open channel keeps the loop alive.
  void ref();
  void unref();
  int fd() const noexcept { return fd_; }
  // Busy-polling (beyond Node): for budget_us microseconds after a frame is read or written, the
  // loop polls without sleeping, so an answer that follows quickly is read without a wake-up
  // (a sleeping wake-up costs about 15 us per direction). 0 (the default) turns it off.
  void set_busy_poll(unsigned budget_us);
  // Lets several frames with descriptors leave in one sendmsg, all descriptors on its first byte
  // (up to 64). Only for a peer that matches descriptors to NODE_HANDLE frames in arrival order
  // (cppcluster does; libuv gives Node one descriptor per read).
  void set_descriptor_batching(bool on) { batch_fds_ = on; }
  // Beyond Node: from now on the frames travel through shared-memory rings (ring.hpp) instead of
  // the socket, which then carries only descriptors, wake-ups and the end of the channel; primary
  // says which ring is whose. Both ends must switch before their first frame (before start()).
  void use_rings(std::unique_ptr<RingPair> rings, bool primary);
  // Whether frames travel through shared-memory rings.
  bool uses_rings() const noexcept { return rings_ != nullptr; }

 private:
  struct Pending {
    std::string bytes;
    std::size_t offset = 0;
    int fd = -1;
    WriteCallback cb;
  };

  static void on_poll(uv_poll_t* h, int status, int events);
  void on_readable();
  bool deliver(const char* data, std::size_t n);  // feeds the codec; false once closed
  // One non-blocking recvmsg, descriptors appended to fds_: bytes read, 0 at the end of the
  // stream, -EAGAIN when nothing waits, or -errno.
  ssize_t receive(char* buf, std::size_t len);
  void peer_ended(std::error_code ec);  // closes as the peer's end; an unfinished frame is an error
  bool report_bad(const DecodeError& err);
  bool too_many_fds();  // over max_held_fds_: reported and closed (true)  // stops reading, tells bad_frame; false if that destroyed us
  void on_readable_rings();
  void read_ring();
  void read_later();  // frames wait in the ring: read them on the next loop turn
  // Collects descriptors, drops wake-up bytes (then retries queued frames: one may have said the
  // peer made room); 0, or 1 at the end, or -errno.
  int drain_socket();
  void flush();
  void flush_rings();
  void write_failed(int status);  // the socket cannot be written: fail everything, then end
  void wake_peer();
  void ring_broken();  // the peer wrote garbage into the rings: a bad frame, then closed
  void schedule_flush();
  void update_poll();
  void finish_close(std::error_code why);
  void complete(WriteCallback cb, std::error_code ec);
  void fail_write(WriteCallback cb, std::error_code ec);
  void hot();

  int fd_;
  std::unique_ptr<Codec> codec_;
  Callbacks cb_;
  uv::Handle<uv_poll_t> poll_;
  std::deque<Pending> queue_;
  struct HeldFd {
    int fd;
    std::uint64_t read;  // the read (reads_) it arrived with
  };
  std::deque<HeldFd> fds_;
  std::size_t max_held_fds_ = 0;
  std::uint64_t reads_ = 0;          // socket reads that returned bytes
  std::uint64_t frame_start_ = 0;    // the read in which the frame being delivered began
  std::uint64_t partial_start_ = 0;  // the read in which the buffered partial frame began
  std::size_t queued_bytes_ = 0;
  int poll_events_ = 0;
  bool reading_ = false;
  bool closed_ = false;
  bool ending_ = false;
  bool closed_by_peer_ = false;
  std::error_code broken_;  // a write failed with this: the channel is ending
  bool flush_scheduled_ = false;
  bool write_blocked_ = false;  // the socket said EAGAIN: retry per batch, not per write
  std::size_t blocked_at_ = 0;  // queued_bytes_ when it did
  bool reffed_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string read_buf_;
  std::uint64_t spin_ns_ = 0;
  std::uint64_t last_active_ = 0;
  uv::Handle<uv_idle_t> spin_;  // active while busy-polling: the loop polls with timeout 0
  bool batch_fds_ = false;
  std::unique_ptr<RingPair> rings_;
  std::optional<Ring> tx_, rx_;
  bool ring_broken_ = false;
  uv::Handle<uv_prepare_t> prepare_;  // before the loop sleeps: tell the writer to wake us
  uv::Handle<uv_check_t> check_;      // after it wakes: no more wake-ups needed
  uv::Handle<uv_idle_t> again_;       // active while frames wait in the ring unread
};

}  // namespace cluster::ipc
