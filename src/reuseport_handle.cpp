#include "reuseport_handle.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cluster {

ReusePortHandle::ReusePortHandle(std::string key, net::detail::ServerSpec spec, RoundRobinHandle::Sender send)
    : key_(std::move(key)), spec_(std::move(spec)), rescue_(std::make_shared<RoundRobinHandle>(key_, std::move(send))) {
  spec_.reuse_port = true;
}

ReusePortHandle::~ReusePortHandle() {
  for (auto& [worker, fd] : sockets_) ::close(fd);
}

int ReusePortHandle::add(int worker) {
  if (auto it = sockets_.find(worker); it != sockets_.end()) return it->second;
  int fd = net::detail::create_server_socket(spec_);
  if (fd < 0) return fd;
  if (sockets_.empty()) {
    // Later sockets join this one's address: the port the kernel chose for 0, and the family
    // chosen for "any address".
    if (auto a = net::detail::local_address(fd)) {
      spec_.address = a->address;
      spec_.port = a->port;
    }
  }
  sockets_[worker] = fd;
  rescue_->add(worker);
  return fd;
}

void ReusePortHandle::drain(int fd) {
  // Whatever is queued now would be reset with the last copy of the socket; bounded in case
  // connections keep arriving faster than they are taken.
  for (int i = 0; i < 1 << 16; ++i) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: drained; EINVAL: never listened
    }
    rescue_->distribute(c);  // closed at once when no worker is left
  }
}

bool ReusePortHandle::remove(int worker, RoundRobinHandle::Leaving how) {
  auto it = sockets_.find(worker);
  if (it == sockets_.end()) return false;
  const int fd = it->second;
  sockets_.erase(it);
  const bool last = rescue_->remove(worker, how);
  // Connections that reach the socket between the last accept and close() are still reset by the
  // kernel (shutdown() would reset the whole queue); with net.ipv4.tcp_migrate_req=1 (Linux 5.14)
  // the kernel moves those to another socket of the group as well.
  if (!last) drain(fd);
  ::close(fd);
  return sockets_.empty();
}

}  // namespace cluster
