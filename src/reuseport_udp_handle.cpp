#include "reuseport_udp_handle.hpp"

#include "reuseport_handle.hpp"

#include <unistd.h>

namespace cluster {

ReusePortUdpHandle::ReusePortUdpHandle(net::detail::ServerSpec spec) : spec_(std::move(spec)) {
  spec_.reuse_port = true;
}

ReusePortUdpHandle::~ReusePortUdpHandle() { close_all(); }

void ReusePortUdpHandle::close_all() {
  for (auto& [worker, fd] : sockets_) ::close(fd);
  sockets_.clear();
  for (int fd : idle_) ::close(fd);
  idle_.clear();
}

int ReusePortUdpHandle::add(int worker) {
  if (auto it = sockets_.find(worker); it != sockets_.end()) return it->second;
  int fd;
  if (!idle_.empty()) {
    fd = idle_.back();  // with what waited in it while no worker was there
    idle_.pop_back();
  } else {
    fd = sockets_.empty() ? bind_reuseport_first(spec_, true) : net::detail::create_udp_socket(spec_);
    if (fd < 0) return fd;
  }
  sockets_[worker] = fd;
  return fd;
}

bool ReusePortUdpHandle::remove(int worker) {
  auto it = sockets_.find(worker);
  if (it == sockets_.end()) return false;
  const int fd = it->second;
  sockets_.erase(it);
  if (sockets_.empty() && keep_open_) {
    idle_.push_back(fd);
    return false;
  }
  // Out of the group at once: the kernel hashes its flows over the other sockets.
  ::close(fd);
  if (!sockets_.empty()) return false;
  close_all();
  return true;
}

bool ReusePortUdpHandle::set_keep_open(bool on) {
  keep_open_ = on;
  if (on || !sockets_.empty()) return false;
  close_all();
  return true;
}

}  // namespace cluster
