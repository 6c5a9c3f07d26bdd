// Node's lib/internal/cluster/round_robin_handle.js: under sched_rr the primary listens, accepts,
// and gives each connection to a free worker with newconn, one in flight per worker.
//
// Beyond Node: a connection in flight to a worker that dies or disconnects before answering goes
// to another worker (Node leaves it open and unanswered); a refused connection with no worker
// left is closed (Node queues it forever).
#pragma once

#include "uv/handle.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

namespace cluster {

class RoundRobinHandle : public std::enable_shared_from_this<RoundRobinHandle> {
 public:
  // Sends fd to worker as newconn; on_reply(accepted) runs when the worker answers. Returns false
  // when the worker cannot be reached (the connection then goes to someone else).
  using Sender = std::function<bool(int worker, int fd, std::function<void(bool accepted)> on_reply)>;

  RoundRobinHandle(std::string key, Sender send);
  RoundRobinHandle(const RoundRobinHandle&) = delete;
  RoundRobinHandle& operator=(const RoundRobinHandle&) = delete;
  // Closes the listening socket and every connection still held (queued or in flight).
  ~RoundRobinHandle();

  // Starts accepting on a listening socket (taken); returns 0 or a negative libuv error.
  int start(int listen_fd);
  // Node's add(): the worker joins and gets a queued connection if there is one.
  void add(int worker);
  // Node's remove(): the worker leaves. gone: it can no longer answer, so its connection in flight
  // is handed to another worker. True when it was the last worker: everything is closed.
  bool remove(int worker, bool gone);
  // Node's distribute(): queues an accepted connection (taken) and wakes the first free worker.
  void distribute(int fd);

  // A Unix socket path to remove when the handle closes (the primary bound it).
  void set_unlink_path(std::string path) { unlink_path_ = std::move(path); }
  const std::string& key() const noexcept { return key_; }
  bool has(int worker) const { return all_.count(worker) != 0; }
  std::size_t queued() const noexcept { return queue_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  bool closed() const noexcept { return closed_; }

 private:
  void handoff(int worker);
  void wake_free();
  void on_reply(int worker, int fd, bool accepted);
  void accept_all();
  void close_all();

  std::string key_;
  Sender send_;
  std::set<int> all_;
  std::deque<int> free_;                     // idle workers, longest idle first
  std::deque<int> queue_;                    // accepted connections not yet handed out
  std::unordered_map<int, int> in_flight_;   // worker -> connection awaiting its answer
  std::optional<uv::Handle<uv_poll_t>> poll_;
  int listen_fd_ = -1;
  bool closed_ = false;
  std::string unlink_path_;
};

}  // namespace cluster
