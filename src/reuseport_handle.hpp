// sched_reuseport (beyond Node): the primary binds one SO_REUSEPORT listening socket per worker
// and passes it in the queryServer answer, the way SharedHandle passes its one socket; the kernel
// then spreads new connections over the workers' sockets and the primary is off the accept path.
// The primary creates every socket, so workers may drop privileges, and it keeps a copy of each:
// - A worker that leaves (dies, disconnects, closes the server) leaves its socket open: the
//   primary serves it from then on, accepting what the kernel still sends there and handing it
//   to the other workers with newconn, until a new worker joins and is given that very socket.
//   Closing it would reset whatever reaches it between the last accept and the close (unless
//   net.ipv4.tcp_migrate_req=1, Linux 5.14+, where the kernel moves them: then it is closed).
//   So a planned restart or a reload resets no connection on any kernel.
// - A stalled worker (its accept queue non-empty at two checks in a row, half the hand-off
//   deadline apart, and its main thread never blocked in between: stopped, or busy without
//   ever waiting in its event loop) has its queue accepted by the primary and handed to the
//   others, and gets no rescued connection itself while another worker can take them. From then
//   on the primary watches its socket: a connection that lands there is left a short grace (1% of
//   the check interval: 5 ms) for the worker to take, then taken and handed over. A check that
//   finds the queue empty with nothing taken since the last one, or the thread blocked again,
//   ends the watch (the worker accepts again). Whether the thread blocked is read from
//   /proc/PID/status (voluntary_ctxt_switches): a busy but healthy worker waits in epoll_wait
//   between bursts, so a queue that is merely never empty under load is not a stall.
// - The first socket of a group refuses a port another program listens on (EADDRINUSE, as
//   sched_rr does), although SO_REUSEPORT alone would let the two share it.
#pragma once

#include "net/sockaddr.hpp"
#include "round_robin_handle.hpp"
#include "uv/handle.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cluster {

// Binds the first socket of a SO_REUSEPORT group at spec (a TCP or, with udp, a UDP address):
// a probe bound without SO_REUSEPORT first fails with UV_EADDRINUSE when anybody else holds the
// port, and for port 0 picks the port, written back to spec (with reuse_port set) for the rest
// of the group. Returns the descriptor or a negative libuv error.
int bind_reuseport_first(net::detail::ServerSpec& spec, bool udp);

class ReusePortHandle {
 public:
  // A worker's process id, or -1 when unknown.
  using PidOf = std::function<int(int worker)>;
  // spec: a TCP address (not a Unix path, not an fd). send: how rescued connections reach a
  // worker. check_ms: how often stalled workers are looked for (0: never). pid_of: where a
  // worker's thread is looked up (none: a non-empty queue at two checks is enough).
  ReusePortHandle(std::string key, net::detail::ServerSpec spec, RoundRobinHandle::Sender send,
                  std::uint64_t check_ms, PidOf pid_of = {});
  ReusePortHandle(const ReusePortHandle&) = delete;
  ReusePortHandle& operator=(const ReusePortHandle&) = delete;
  // Closes every socket still held (pending connections in them are reset by the kernel).
  ~ReusePortHandle();

  // Gives the worker a socket: one a departed worker left, or a new one bound at the group's
  // address (the first fixes the port when 0 was asked for). Returns the descriptor (still owned
  // here) or a negative libuv error (UV_EADDRINUSE when another program listens on the port).
  int add(int worker);
  // The worker leaves: its socket is served by the primary until another worker takes it (or
  // closed after a drain where the kernel migrates requests); rescued connections in flight to it
  // are settled as `how` says. True when it was the last worker: every socket is closed.
  bool remove(int worker, RoundRobinHandle::Leaving how);
  // No worker holds a socket.
  bool empty() const noexcept { return sockets_.empty(); }
  // Kept open (hold_servers()): when the last worker leaves, every socket stays open and the
  // primary stops accepting from them (connections wait in their backlogs) until a worker joins.
  // Turning it off with no worker left closes them all; returns whether it did.
  bool set_keep_open(bool on);
  // Sockets of departed workers the primary serves now.
  std::size_t orphans() const noexcept { return orphans_.size(); }
  // Connections the primary accepted from departed or stalled workers' sockets.
  std::uint64_t rescued() const noexcept { return rescued_; }

 private:
  struct Orphan {
    int fd;
    uv::Handle<uv_poll_t> poll;
    ReusePortHandle* owner;
  };

  // A stalled worker's socket under watch (see above).
  struct Watch {
    ReusePortHandle* owner;
    int fd;
    uv::Handle<uv_poll_t> poll;
    uv::Handle<uv_timer_t> grace;
    std::uint64_t taken = 0;  // connections taken from it since the last check
  };

  int bind_first();  // the group's first socket, after checking that nobody else listens there
  void watch(int worker, int fd);
  void take_after_grace(Watch& w);
  static void on_watched_readable(uv_poll_t* h, int status, int events);
  void adopt(int fd);  // serve a departed worker's socket
  void serve_orphans(bool on);  // start or stop accepting from departed workers' sockets
  void close_all();
  std::uint64_t drain(int fd);  // accepts what waits and hands it out; returns how many
  void check_stalls();
  // Whether the worker's main thread blocked (voluntary context switches) since the last call.
  bool blocked_since_last_check(int worker);

  std::string key_;
  net::detail::ServerSpec spec_;
  std::map<int, int> sockets_;  // worker id -> its listening socket (the primary's copy)
  std::vector<std::unique_ptr<Orphan>> orphans_;
  std::shared_ptr<RoundRobinHandle> rescue_;
  std::uint64_t check_ms_;
  uv::Handle<uv_timer_t> check_;
  std::map<int, bool> backlogged_;  // worker -> its queue was non-empty at the last check
  PidOf pid_of_;
  std::map<int, std::uint64_t> switches_;  // worker -> voluntary context switches at the last check
  std::map<int, std::unique_ptr<Watch>> stalled_;  // workers found stalled, their sockets watched
  std::uint64_t rescued_ = 0;
  bool migrate_;  // net.ipv4.tcp_migrate_req=1: a closed socket's requests move to the others
  bool keep_open_ = false;
};

}  // namespace cluster
