#include "notify.hpp"

#include "cluster/cluster.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace cppcluster {

std::map<std::string, std::string> parse_notify(std::string_view d) {
  std::map<std::string, std::string> out;
  while (!d.empty()) {
    const auto nl = d.find('\n');
    const std::string_view line = d.substr(0, nl);
    d = nl == std::string_view::npos ? std::string_view{} : d.substr(nl + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    out[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return out;
}

struct NotifySocket::Poll {
  uv_poll_t handle{};
  int fd = -1;
  Callback cb;
};

// Reads and hands on up to max datagrams waiting on p's socket.
void NotifySocket::drain(Poll* p, int max) {
  for (int i = 0; i < max && p->cb; ++i) {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(p->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) break;
    // Descriptors sent along (FDSTORE=1) are not kept: close them.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t k = 0; k < count; ++k) {
        int sent;
        std::memcpy(&sent, CMSG_DATA(c) + k * sizeof(int), sizeof sent);
        ::close(sent);
      }
    }
    p->cb(parse_notify(std::string_view(buf, static_cast<std::size_t>(n))));
  }
}

NotifySocket::NotifySocket(std::string path, Callback cb) : path_(std::move(path)) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(), "notify socket " + path_);
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "notify socket");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "notify socket " + path_);
  }
  poll_ = new Poll;
  poll_->fd = fd;
  poll_->cb = std::move(cb);
  uv_poll_init(cluster::loop(), &poll_->handle, fd);
  poll_->handle.data = poll_;
  uv_poll_start(&poll_->handle, UV_READABLE, [](uv_poll_t* h, int status, int) {
    if (status >= 0) drain(static_cast<Poll*>(h->data), 64);  // bounded: the poll fires again for the rest
  });
}

void NotifySocket::read_pending() {
  if (poll_) drain(poll_, 1024);
}

NotifySocket::~NotifySocket() {
  if (!poll_) return;
  ::unlink(path_.c_str());
  poll_->cb = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), [](uv_handle_t* h) {
    auto* p = static_cast<Poll*>(h->data);
    ::close(p->fd);
    delete p;
  });
}

bool sd_notify_send(std::string_view state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (!where || !*where) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(where);
  if (len >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, where, len);
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (where[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  } else {
    addr_len += 1;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                           addr_len) == static_cast<ssize_t>(state.size());
  ::close(fd);
  return ok;
}

}  // namespace cppcluster
