// Node's lib/internal/cluster/shared_handle.js: under sched_none (and always for UDP) the primary
// binds one socket per key and gives every worker a copy; each worker listens and accepts itself.
#pragma once

#include "net/sockaddr.hpp"

#include <set>
#include <string>

namespace cluster {

class SharedHandle {
 public:
  // Binds the socket now (net._createServerHandle / dgram._createSocketHandle); a failure is kept
  // as error() and sent to every worker that asks.
  SharedHandle(std::string key, const net::detail::ServerSpec& spec, bool udp);
  SharedHandle(const SharedHandle&) = delete;
  SharedHandle& operator=(const SharedHandle&) = delete;
  ~SharedHandle();

  // 0, or the negative libuv error binding failed with.
  int error() const noexcept { return errno_; }
  // The bound socket (still owned here), or -1 after an error.
  int fd() const noexcept { return fd_; }
  bool udp() const noexcept { return udp_; }
  // The worker joins.
  void add(int worker) { workers_.insert(worker); }
  // The worker leaves; true when it was the last one: the primary's copy is then closed (unless
  // kept open: see set_keep_open).
  bool remove(int worker);
  // Kept open (hold_servers()): the last worker leaving does not close the socket. Turning it off
  // closes it if no worker shares it; returns whether it did.
  bool set_keep_open(bool on);

 private:
  std::string key_;
  std::set<int> workers_;
  int fd_ = -1;
  int errno_ = 0;
  std::string unlink_path_;  // a Unix socket bound here, removed with the last worker
  bool udp_ = false;
  bool keep_open_ = false;

  void close();
};

}  // namespace cluster
