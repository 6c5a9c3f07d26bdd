// Node's setupChannel() target (lib/internal/child_process.js): send() with handles wrapped in
// NODE_HANDLE, at most one unacknowledged handle per direction with later sends queued behind it,
// NODE_HANDLE_ACK/NACK, internal-vs-user dispatch, and disconnect().
#pragma once

#include "cluster/message.hpp"
#include "ipc/channel.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <system_error>

namespace cluster::ipc {

// Node's isInternal(): an object whose cmd is a string longer than 5 starting with "NODE_".
bool is_internal(const Message& m);

class Target {
 public:
  struct Callbacks {
    std::function<void(Message&&, Handle&)> message;   // user messages
    std::function<void(Message&&, Handle&)> internal;  // NODE_* messages (cluster traffic)
    std::function<void()> disconnect;                  // the channel is gone (once)
    std::function<void(const std::system_error&)> error;
  };

  // Takes ownership of the channel socket fd.
  Target(int fd, Serialization mode, std::size_t max_frame);
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;
  ~Target();

  // Starts receiving.
  void start(Callbacks cb);
  // Node's target.send(): false when the channel is closed (cb or the error event then gets
  // errc::channel_closed on a later tick) or its write queue is long; an owned handle is closed by
  // the library once sent (a net.Socket once acknowledged), a borrowed one is left to the caller.
  bool send(const Message& msg, Handle handle, const SendOptions& opts, WriteCallback cb);
  // Sends without the connected check's error reporting (Node's swallowErrors sends).
  void send_quiet(Message msg);
  // Node's target.disconnect(): stops sending, flushes, closes; emits disconnect on a later tick.
  // Postponed while a handle awaits its ACK. Reports ERR_IPC_DISCONNECTED if already disconnected.
  void disconnect();
  // Closes at once, as when the peer is gone.
  void destroy();
  bool connected() const noexcept { return connected_; }
  // True once the peer closed its end (it reads nothing more); false while open or when this side
  // disconnected (the peer may still read what was written before).
  bool peer_closed() const noexcept { return channel_->closed_by_peer(); }
  // Whether the channel keeps the loop alive (process.channel.ref/unref).
  void ref();
  void unref();
  Channel& channel() noexcept { return *channel_; }
  // Beyond Node, for a cppcluster peer that asked for it (wire::pipelined_handles): handles are
  // sent without waiting for each NODE_HANDLE_ACK, in frames marked noAck, several per sendmsg;
  // an owned handle is closed once written. Node peers keep Node's one-at-a-time exchange.
  void set_pipelined_handles(bool on);
  // Beyond Node, in the primary: when more than n bytes wait to be written to the peer (in the
  // channel and behind an unacknowledged handle), the peer is not reading: error gets
  // errc::limit_exceeded and the channel is closed as by destroy() (0, the default: no bound).
  void set_max_queued_bytes(std::size_t n) { max_queued_bytes_ = n; }
  // The same, for a handle-less send by the library itself: no check that the descriptor is a
  // sendable socket (the library made it), which saves two system calls per connection.
  bool send_internal(Message msg, Handle handle, WriteCallback cb);

 private:
  struct QueuedSend {
    Message msg;
    std::shared_ptr<Handle> handle;
    SendOptions opts;
    WriteCallback cb;
  };
  struct PendingHandle {  // a net.Socket sent without keep_open, closed on ACK
    QueuedSend send;
    int retransmissions = 0;
  };

  bool send_now(Message msg, std::shared_ptr<Handle> handle, const SendOptions& opts, WriteCallback cb);
  void on_frame(Message&& m);
  void on_ack(bool nack);
  void do_disconnect();
  void on_end();
  bool check_queued();  // false (and the peer cut off) past max_queued_bytes_
  void report(const std::error_code& ec, const char* what);  // on a later tick
  void report_now(const std::error_code& ec, const char* what);

  std::unique_ptr<Channel> channel_;
  Callbacks cb_;
  bool connected_ = true;
  bool disconnect_emitted_ = false;
  bool pipelined_ = false;
  std::optional<std::deque<QueuedSend>> handle_queue_;
  std::size_t handle_queue_bytes_ = 0;  // about what handle_queue_ will write
  std::size_t max_queued_bytes_ = 0;
  bool over_limit_ = false;
  std::optional<PendingHandle> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cluster::ipc
