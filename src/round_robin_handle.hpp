// Node's lib/internal/cluster/round_robin_handle.js: under sched_rr the primary listens, accepts,
// and hands each connection to a worker with newconn.
//
// Beyond Node:
// - Node sends one connection at a time to a worker and gives the next queued one to whichever
//   worker answers first, so the counts follow the kernel's scheduling of the workers (max/min of
//   1.2 to 1.5 on a loaded machine). Here each worker may have up to `window` connections awaiting
//   its answer, and a connection goes to the worker with the fewest offers so far among those with
//   room (the longest-waiting one on a tie): counts stay even while the workers keep up, and a
//   worker that stops answering (a blocked loop) gets at most `window` more before it is skipped.
// - A connection in flight to a worker that dies or disconnects before answering goes to another
//   worker (Node leaves it open and unanswered); a refused connection with no worker left is
//   closed (Node queues it forever).
// - The handle can run without a listening socket (never start()ed): sched_reuseport uses it to
//   hand out the connections left in a dead worker's accept queue.
#pragma once

#include "uv/handle.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace cluster {

class RoundRobinHandle : public std::enable_shared_from_this<RoundRobinHandle> {
 public:
  // Sends fd to worker as newconn; on_reply(accepted) runs when the worker answers. Returns false
  // when the worker cannot be reached (the connection then goes to someone else).
  using Sender = std::function<bool(int worker, int fd, std::function<void(bool accepted)> on_reply)>;

  // Connections a worker may have awaiting its answer (Node: 1).
  static constexpr std::size_t default_window = 8;

  RoundRobinHandle(std::string key, Sender send, std::size_t window = default_window);
  RoundRobinHandle(const RoundRobinHandle&) = delete;
  RoundRobinHandle& operator=(const RoundRobinHandle&) = delete;
  // Closes the listening socket and every connection still held (queued or in flight).
  ~RoundRobinHandle();

  // Starts accepting on a listening socket (taken); returns 0 or a negative libuv error.
  int start(int listen_fd);
  // Node's add(): the worker joins (counted level with the others) and gets queued connections.
  void add(int worker);
  // Node's remove(): the worker leaves. gone: it can no longer answer, so its connections in
  // flight are handed to other workers. True when it was the last worker: everything is closed.
  bool remove(int worker, bool gone);
  // Node's distribute(): queues an accepted connection (taken) and hands out what it can.
  void distribute(int fd);

  // A Unix socket path to remove when the handle closes (the primary bound it).
  void set_unlink_path(std::string path) { unlink_path_ = std::move(path); }
  // The handle's key (address:port:addressType:fd:index, as Node's).
  const std::string& key() const noexcept { return key_; }
  // Whether the worker has joined and not left.
  bool has(int worker) const;
  // Accepted connections waiting for a worker with room.
  std::size_t queued() const noexcept { return queue_.size(); }
  // Connections sent and not yet answered, over all workers.
  std::size_t in_flight() const noexcept;
  // True once the last worker left: the listening socket and queued connections are closed.
  bool closed() const noexcept { return closed_; }
  // How often accepting paused because descriptors or memory ran out (EMFILE, ENFILE, ENOBUFS,
  // ENOMEM): the connections then wait in the backlog and accepting resumes after a short pause,
  // rather than spinning on a socket that stays readable or dropping connections (libuv's
  // reserve-descriptor trick closes them).
  std::uint64_t accept_pauses() const noexcept { return accept_pauses_; }
  // The pause before accepting again after running out of descriptors.
  static constexpr std::uint64_t accept_retry_ms = 100;

 private:
  struct Member {
    bool joined = true;         // false once the worker left (its answers still count)
    std::uint64_t offered = 0;  // connections offered so far (the fairness count)
    std::uint64_t last = 0;     // when it was last offered one (ties go to the oldest)
    std::deque<int> in_flight;  // connections awaiting its answer, oldest first
  };

  void hand_out();
  std::map<int, Member>::iterator pick();  // end() when no worker has room
  void on_reply(int worker, int fd, bool accepted);
  void accept_all();
  void pause_accepting();
  int start_polling();
  void close_all();
  void forget_if_done(int worker);

  std::string key_;
  Sender send_;
  std::size_t window_;
  std::map<int, Member> members_;
  std::deque<int> queue_;  // accepted connections not yet handed out
  std::uint64_t clock_ = 0;
  bool handing_out_ = false;
  std::optional<uv::Handle<uv_poll_t>> poll_;
  std::optional<uv::Handle<uv_timer_t>> retry_;
  std::uint64_t accept_pauses_ = 0;
  int listen_fd_ = -1;
  bool closed_ = false;
  std::string unlink_path_;
};

}  // namespace cluster
