// sched_reuseport for UDP (beyond Node, which shares one UDP socket under every policy): the
// primary binds one SO_REUSEPORT UDP socket per worker at the group's address and passes it in
// the queryServer answer (as dgram.Native); the kernel hashes each flow (source and destination
// address and port) to one socket of the group, so each worker reads its own share of the flows
// instead of all racing on one descriptor. The primary keeps a copy of each socket.
// - A worker that leaves (dies, disconnects, closes its socket) takes its socket out of the
//   group: the primary closes its copy and the kernel hashes that socket's flows over the others
//   from then on. Datagrams already queued in that socket are lost: unlike a TCP connection, a
//   datagram cannot be handed to another worker with its sender's address (UDP promises no
//   delivery anyway). A flow moves to another worker when the group changes size.
// - The last worker leaving closes the group, unless it is kept open (hold_servers()): then its
//   socket stays open, what arrives waits in its receive buffer, and the next worker takes it.
// - The first socket refuses a port another socket holds (EADDRINUSE, as SharedHandle would),
//   although SO_REUSEPORT alone would let a second program of the same user join the group.
// A worker's exclusive bind never comes here: it binds in the worker, without SO_REUSEPORT, so
// it and a group cannot share a port.
#pragma once

#include "net/sockaddr.hpp"

#include <map>
#include <vector>

namespace cluster {

class ReusePortUdpHandle {
 public:
  // spec: a udp4/udp6 address (not an fd). Binds nothing until the first add().
  explicit ReusePortUdpHandle(net::detail::ServerSpec spec);
  ReusePortUdpHandle(const ReusePortUdpHandle&) = delete;
  ReusePortUdpHandle& operator=(const ReusePortUdpHandle&) = delete;
  // Closes every socket still held.
  ~ReusePortUdpHandle();

  // Gives the worker its socket: one kept open for the next worker, or a new one bound at the
  // group's address (the first fixes the port when 0 was asked for). Returns the descriptor
  // (still owned here) or a negative libuv error (UV_EADDRINUSE when another socket holds the
  // port, UV_EACCES, UV_EMFILE, ...).
  int add(int worker);
  // The worker leaves: its socket is closed (see above). True when it was the last worker and
  // the group is closed.
  bool remove(int worker);
  // No worker holds a socket.
  bool empty() const noexcept { return sockets_.empty(); }
  // Kept open (hold_servers()): the last worker's socket stays open until a worker joins.
  // Turning it off with no worker left closes it; returns whether it did.
  bool set_keep_open(bool on);

 private:
  void close_all();

  net::detail::ServerSpec spec_;
  std::map<int, int> sockets_;  // worker id -> its socket (the primary's copy)
  std::vector<int> idle_;       // kept open with no worker, for the next ones
  bool keep_open_ = false;
};

}  // namespace cluster
