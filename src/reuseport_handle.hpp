// sched_reuseport (beyond Node): the primary binds one SO_REUSEPORT listening socket per worker
// and passes it in the queryServer answer, the way SharedHandle passes its one socket; the kernel
// then spreads new connections over the workers' sockets and the primary is off the accept path.
// The primary creates every socket, so workers may drop privileges, and it keeps a copy of each:
// when a worker leaves (dies, disconnects or closes the server), the connections already waiting
// in that worker's accept queue, which the kernel would otherwise reset, are accepted here and
// handed to the remaining workers with newconn, then the copy is closed.
#pragma once

#include "net/sockaddr.hpp"
#include "round_robin_handle.hpp"

#include <map>
#include <memory>
#include <string>

namespace cluster {

class ReusePortHandle {
 public:
  // spec: a TCP address (not a Unix path, not an fd). send: how rescued connections reach a worker.
  ReusePortHandle(std::string key, net::detail::ServerSpec spec, RoundRobinHandle::Sender send);
  ReusePortHandle(const ReusePortHandle&) = delete;
  ReusePortHandle& operator=(const ReusePortHandle&) = delete;
  // Closes every socket still held (pending connections in them are reset by the kernel).
  ~ReusePortHandle();

  // Binds a socket for the worker at the group's address (the first socket fixes the port when 0
  // was asked for). Returns the descriptor (still owned here) or a negative libuv error
  // (UV_EADDRINUSE when another program holds the port without SO_REUSEPORT).
  int add(int worker);
  // The worker leaves: its waiting connections go to the others, its socket is closed; rescued
  // connections in flight to it are settled as `how` says. True when it was the last worker
  // (nothing is held any more).
  bool remove(int worker, RoundRobinHandle::Leaving how);
  bool empty() const noexcept { return sockets_.empty(); }

 private:
  void drain(int fd);

  std::string key_;
  net::detail::ServerSpec spec_;
  std::map<int, int> sockets_;  // worker id -> its listening socket (the primary's copy)
  std::shared_ptr<RoundRobinHandle> rescue_;
};

}  // namespace cluster
