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
// - A connection in flight to a worker that dies or closes its end of the channel before answering
//   goes to another worker (Node leaves it open and unanswered); when the primary closes the
//   channel itself, what was written is the worker's (it may still read and serve it: giving it to
//   another worker too would serve it twice) and what was not goes to another worker; a refused
//   connection with no worker left is closed (Node queues it forever).
// - A descriptor is never closed while a frame carrying it waits in a write queue: the close waits
//   for the write (the number could otherwise be reused and another socket sent in its place).
// - The handle can run without a listening socket (never start()ed): sched_reuseport uses it to
//   hand out the connections left in a dead worker's accept queue.
// - A Scheduler (cluster/scheduler.hpp) may pick the worker instead of the fair rule; a worker it
//   picks without room is waited for, within a bound, in a queue of that worker's own.
#pragma once

#include "cluster/scheduler.hpp"
#include "scheduler/connection_stats.hpp"
#include "uv/handle.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cluster {

class RoundRobinHandle : public std::enable_shared_from_this<RoundRobinHandle> {
 public:
  // What becomes of one connection sent to a worker: written(ok) once its frame has left (or never
  // will), answered(accepted) when the worker answers.
  struct Delivery {
    std::function<void(bool ok)> written;
    std::function<void(bool accepted)> answered;
  };
  // Sends fd to worker as newconn and reports through the delivery. Returns false, calling
  // neither, when the worker cannot be reached (the connection then goes to someone else).
  using Sender = std::function<bool(int worker, int fd, Delivery delivery)>;

  // How a worker leaves the handle.
  enum class Leaving {
    answering,    // it closed its server but still answers what it was sent (Node's close act)
    unreachable,  // it died or closed its end of the channel: nothing it was sent will be served
    cut_off,      // the primary closed the channel: the worker keeps what was written to it
  };

  // Connections a worker may have awaiting its answer (Node: 1).
  static constexpr std::size_t default_window = 8;

  // timeout_ms: a worker whose oldest unanswered connection is older than this is offered no
  // more until it answers (0: no deadline).
  RoundRobinHandle(std::string key, Sender send, std::size_t window = default_window,
                   std::uint64_t timeout_ms = 0);
  RoundRobinHandle(const RoundRobinHandle&) = delete;
  RoundRobinHandle& operator=(const RoundRobinHandle&) = delete;
  // Closes the listening socket and every connection still held (queued or in flight).
  ~RoundRobinHandle();

  // Starts accepting on a listening socket (taken); returns 0 or a negative libuv error.
  int start(int listen_fd);
  // Node's add(): the worker joins (counted level with the others) and gets queued connections.
  // totals (optional) gets the connections it accepts and gives its open count to schedulers.
  void add(int worker, std::shared_ptr<sched::WorkerTotals> totals = nullptr);
  // Picks workers with s from now on (fair(): the built-in rule, as without one); server names
  // the server for s. Connections already waiting for a worker keep waiting.
  void set_scheduler(Scheduler s, std::string address, int port);
  // Node's remove(): the worker leaves; what it was sent is settled as `how` says. True when it
  // was the last worker: the listening socket and the queue are closed.
  bool remove(int worker, Leaving how);
  // Node's distribute(): queues an accepted connection (taken) and hands out what it can.
  void distribute(int fd);

  // A paused worker is offered nothing while an unpaused one has room (it stays a member; what
  // it holds is unchanged) until it is resumed; resuming hands out what waits.
  void set_paused(int worker, bool paused);
  // Kept open (hold_servers()): when the last worker leaves, the handle stays open and stops
  // accepting (connections wait in the backlog, accepted ones in the queue) until a worker joins.
  // Turning it off closes a handle no worker has joined; returns closed().
  bool set_keep_open(bool on);
  // A Unix socket path to remove when the handle closes (the primary bound it).
  void set_unlink_path(std::string path) { unlink_path_ = std::move(path); }
  // The handle's key (address:port:addressType:fd:index, as Node's).
  const std::string& key() const noexcept { return key_; }
  // Whether the worker has joined and not left.
  bool has(int worker) const;
  // Accepted connections waiting for a worker with room.
  std::size_t queued() const noexcept { return queue_.size() + fair_queue_.size() + waiting_; }
  // Connections sent and not yet answered, over all workers.
  std::size_t in_flight() const noexcept;
  // Connections sent to worker and not yet answered.
  std::size_t in_flight_of(int worker) const noexcept;
  // Connections a scheduler's pick sent to the fair choice after waiting for a busy worker past
  // the bound, or because the worker it picked was stalled.
  std::uint64_t sticky_fallbacks() const noexcept { return fallbacks_; }
  // Connections that waited for the worker a scheduler picked because its window was full.
  std::uint64_t waits() const noexcept { return waits_; }
  // True once the last worker left: the listening socket and queued connections are closed.
  bool closed() const noexcept { return closed_; }
  // How often accepting paused because descriptors or memory ran out (EMFILE, ENFILE, ENOBUFS,
  // ENOMEM): the connections then wait in the backlog and accepting resumes after a short pause,
  // rather than spinning on a socket that stays readable or dropping connections (libuv's
  // reserve-descriptor trick closes them).
  std::uint64_t accept_pauses() const noexcept { return accept_pauses_; }
  // Workers passed over because a connection offered to them went unanswered past the deadline.
  std::uint64_t overdue_skips() const noexcept { return overdue_skips_; }
  // The longest pause before accepting again after running out of descriptors (a descriptor
  // this handle frees ends the pause at once).
  static constexpr std::uint64_t accept_retry_ms = 100;
  // Running out of descriptors is said on stderr at most this often.
  static constexpr std::uint64_t warn_interval_ms = 10000;
  // Sets the longest pause (tests).
  void set_accept_retry_ms(std::uint64_t ms) { retry_ms_ = ms; }

 private:
  struct Flight {
    int fd;
    std::uint64_t offered_at = 0;  // loop time (ms) of the offer
    bool written = false;  // the frame has left the primary
  };
  struct Member {
    bool joined = true;         // false once the worker left (its answers still count)
    bool cut_off = false;       // the primary closed its channel: written connections are its own
    bool paused = false;        // offered nothing while others have room (set_paused)
    std::uint64_t offered = 0;  // connections offered so far (the fairness count)
    std::uint64_t last = 0;     // when it was last offered one (ties go to the oldest)
    std::deque<Flight> in_flight;  // connections awaiting its answer, oldest first
    std::shared_ptr<sched::WorkerTotals> totals;  // its counters over all servers (may be empty)
    std::deque<Flight> waiting;    // connections a scheduler picked it for, waiting for room
  };
  struct Sending {
    int fd;
    int writes = 0;       // frames carrying fd still in write queues
    bool release = false;  // close fd once the last of them has left
  };

  using MemberIt = std::map<int, Member>::iterator;
  void hand_out();
  MemberIt pick();  // end() when no worker has room; paused workers only when no other has room
  MemberIt pick(bool paused_too);
  bool overdue(const Member& m, std::uint64_t now) const;  // past the deadline (no skip counted)
  bool next_scheduled(int& fd, MemberIt& chosen);  // the scheduler's next hand-off; false: none now
  MemberIt ask_scheduler(int fd, std::uint64_t now);  // end(): the fair choice
  void stop_waiting(Member& m);  // its waiting connections go back to the scheduler's queue
  void arm_wait_timer();
  void remember_peer(int fd, const sockaddr_storage& peer, socklen_t len);
  std::uint64_t wait_bound_ms() const { return timeout_ms_ ? timeout_ms_ : default_wait_ms; }
  static constexpr std::uint64_t default_wait_ms = 1000;
  void on_written(int worker, int fd, bool ok);
  void on_reply(int worker, int fd, bool accepted);
  void unreachable(int worker);  // its channel failed: it gets nothing more
  bool anyone() const;           // a worker has joined and not left
  bool nobody_left();            // after a worker left: closes, or idles when kept open; true if closed
  void requeue(int fd);  // back to the front of the queue, or closed when nobody is left
  void release(int fd);  // closes fd now, or once no write queue holds it
  void accept_all();
  void pause_accepting();
  void resume_accepting();
  void close_fd(int fd);  // a descriptor is free again: accepting resumes if it paused
  void warn_out_of_descriptors();
  int start_polling();
  void close_all();
  void forget_if_done(int worker);

  std::string key_;
  Sender send_;
  std::size_t window_;
  std::uint64_t timeout_ms_;
  std::map<int, Member> members_;
  std::deque<int> queue_;  // accepted connections not yet handed out
  // With a scheduler: connections for the fair choice (refused, or waited too long).
  std::deque<int> fair_queue_;
  std::optional<Scheduler> sched_;  // empty: the fair rule, inline
  std::string sched_address_;
  int sched_port_ = 0;
  std::vector<Candidate> candidates_;  // reused for each pick
  struct Peer {
    sockaddr_in6 addr;  // IPv4 and IPv6 clients fit (a Unix client's path is cut: it has none)
    socklen_t len = 0;  // 0: not known
  };
  std::vector<Peer> peers_;  // the client address of each queued descriptor, by number
  std::size_t waiting_ = 0;            // connections in the members' waiting queues
  std::optional<uv::Handle<uv_timer_t>> wait_timer_;
  std::uint64_t fallbacks_ = 0;
  std::uint64_t waits_ = 0;
  std::vector<Sending> sending_;  // descriptors in write queues (few: window x workers at most)
  std::uint64_t clock_ = 0;
  bool handing_out_ = false;
  std::optional<uv::Handle<uv_poll_t>> poll_;
  std::optional<uv::Handle<uv_timer_t>> retry_;
  std::uint64_t accept_pauses_ = 0;
  std::uint64_t retry_ms_ = accept_retry_ms;
  bool accept_paused_ = false;
  std::uint64_t warned_at_ = 0;
  std::uint64_t unreported_pauses_ = 0;
  std::uint64_t overdue_skips_ = 0;
  int listen_fd_ = -1;
  bool closed_ = false;
  bool keep_open_ = false;
  std::string unlink_path_;
};

}  // namespace cluster
