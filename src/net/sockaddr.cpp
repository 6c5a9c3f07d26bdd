#include "net/sockaddr.hpp"
#include "uv/tick.hpp"

#include "uv/handle.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cluster::net::detail {
namespace {

constexpr unsigned ipv6_only_flag = 1;  // UV_TCP_IPV6ONLY == UV_UDP_IPV6ONLY
constexpr unsigned reuse_addr_flag = 4;  // UV_UDP_REUSEADDR

std::optional<Address> to_address(const sockaddr_storage& ss, socklen_t len) {
  Address a;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
    a.address = buf;
    a.port = ntohs(in.sin_port);
    a.address_type = AddressType::tcp4;
  } else if (ss.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
    a.address = buf;
    a.port = ntohs(in6.sin6_port);
    a.address_type = AddressType::tcp6;
  } else if (ss.ss_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(ss);
    std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    a.address.assign(un.sun_path, strnlen(un.sun_path, n));
    a.port = -1;
    a.address_type = AddressType::unix_socket;
  } else {
    return std::nullopt;
  }
  return a;
}

int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : last_error();
}

int bind_inet(const std::string& address, int port, int type, unsigned flags, bool udp, bool reuse_port = false) {
  sockaddr_storage ss{};
  if (!make_sockaddr(address, port, ss)) return UV_EINVAL;
  int fd = ::socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_error();
  int err = 0;
  // libuv's choices: TCP always reuses the address; UDP only when asked. IPV6_V6ONLY is set
  // explicitly for TCP and only when asked for UDP.
  if (!udp || (flags & reuse_addr_flag)) err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (!err && reuse_port) err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (!err && ss.ss_family == AF_INET6 && (!udp || (flags & ipv6_only_flag))) {
    err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & ipv6_only_flag) ? 1 : 0);
  }
  socklen_t len = ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (!err && ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) err = last_error();
  if (err) {
    ::close(fd);
    return err;
  }
  return fd;
}

int dup_fd(int fd) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return d < 0 ? last_error() : d;
}

}  // namespace

int last_error() { return errno ? -errno : UV_EIO; }

SockKind sock_kind(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return SockKind::unknown;
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) return SockKind::unknown;
  if (type == SOCK_STREAM) {
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) return SockKind::tcp;
    if (ss.ss_family == AF_UNIX) return SockKind::pipe;
  } else if (type == SOCK_DGRAM && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
    return SockKind::udp;
  }
  return SockKind::unknown;
}

bool make_sockaddr(const std::string& host, int port, sockaddr_storage& out) {
  out = {};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0) return true;
  out = {};
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) == 0;
}

std::optional<Address> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return to_address(ss, len);
}

std::optional<Address> remote_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return to_address(ss, len);
}

Message sockname_json(int fd) {
  auto a = local_address(fd);
  if (!a || a->address_type == AddressType::unix_socket) return Message();
  Message m = Message::object();
  m["address"] = a->address;
  m["family"] = a->address_type == AddressType::tcp6 ? "IPv6" : "IPv4";
  m["port"] = a->port;
  return m;
}

int create_server_socket(const ServerSpec& spec) {
  if (spec.fd && *spec.fd >= 0) {
    auto kind = sock_kind(*spec.fd);
    if (kind != SockKind::tcp && kind != SockKind::pipe) return UV_EINVAL;
    return dup_fd(*spec.fd);
  }
  if (spec.port == -1 && spec.address_type == -1) {
    const std::string path = spec.address.value_or("");
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (path.empty()) return UV_EINVAL;
    std::string name = path;
    if (name.size() >= sizeof un.sun_path) {
      // Node binds a path too long for sun_path relative to the current directory when it lies
      // below it (test-cluster-net-listen-relative-path.js: a worker's relative path).
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd)) {
        const std::string prefix = std::string(cwd) + "/";
        if (name.compare(0, prefix.size(), prefix) == 0) name = name.substr(prefix.size());
      }
    }
    if (name.size() >= sizeof un.sun_path) return UV_ENAMETOOLONG;
    std::memcpy(un.sun_path, name.data(), name.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error();
    if (::bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      int err = last_error();
      ::close(fd);
      return err;
    }
    return fd;
  }
  if (!spec.address || spec.address->empty()) {
    // Node: try :: first (dual-stack), fall back to 0.0.0.0 when IPv6 is unavailable.
    int fd = bind_inet("::", spec.port, SOCK_STREAM, spec.flags, false, spec.reuse_port);
    if (fd >= 0 || fd == UV_EADDRINUSE || fd == UV_EACCES) return fd;
    return bind_inet("0.0.0.0", spec.port, SOCK_STREAM, 0, false, spec.reuse_port);
  }
  return bind_inet(*spec.address, spec.port, SOCK_STREAM, spec.flags, false, spec.reuse_port);
}

int create_udp_socket(const ServerSpec& spec) {
  if (spec.fd && *spec.fd > 0) {
    if (sock_kind(*spec.fd) != SockKind::udp) return UV_EINVAL;
    return dup_fd(*spec.fd);
  }
  std::string address = spec.address.value_or("");
  if (address.empty()) address = spec.udp6 ? "::" : "0.0.0.0";
  return bind_inet(address, spec.port, SOCK_DGRAM, spec.flags, true, spec.reuse_port);
}

int listen_socket(int fd, const ServerSpec& spec) {
  if (::listen(fd, spec.backlog > 0 ? spec.backlog : 511) != 0) return last_error();
  if ((spec.readable_all || spec.writable_all) && sock_kind(fd) == SockKind::pipe) {
    auto a = local_address(fd);
    if (a && !a->address.empty()) {
      // libuv's uv_pipe_chmod, as Node calls it: the bits are added to the file's current mode.
      struct stat st {};
      if (::stat(a->address.c_str(), &st) != 0) return last_error();
      mode_t want = 0;
      if (spec.readable_all) want |= S_IRUSR | S_IRGRP | S_IROTH;
      if (spec.writable_all) want |= S_IWUSR | S_IWGRP | S_IWOTH;
      if ((st.st_mode & want) != want && ::chmod(a->address.c_str(), (st.st_mode & 07777) | want) != 0) {
        return last_error();
      }
    }
  }
  return 0;
}

void lookup(const std::string& host, int family_hint, std::function<void(int, const std::string&, int)> cb) {
  sockaddr_storage ss{};
  if (make_sockaddr(host, 0, ss)) {
    cb(0, host, ss.ss_family == AF_INET ? 4 : 6);
    return;
  }
  struct Req {
    uv_getaddrinfo_t req;
    std::function<void(int, const std::string&, int)> cb;
  };
  auto* r = new Req{{}, std::move(cb)};
  addrinfo hints{};
  hints.ai_family = family_hint == 4 ? AF_INET : family_hint == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int err = uv_getaddrinfo(
      uv::loop(), &r->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
    uv::CallbackScope scope;
        auto* r = reinterpret_cast<Req*>(req);
        std::string ip;
        int family = 0;
        if (status == 0 && res) {
          char buf[INET6_ADDRSTRLEN] = {};
          if (res->ai_family == AF_INET) {
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
            family = 4;
          } else {
            inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf, sizeof buf);
            family = 6;
          }
          ip = buf;
        } else if (status == 0) {
          status = UV_EAI_NONAME;
        }
        if (res) uv_freeaddrinfo(res);
        auto fn = std::move(r->cb);
        delete r;
        fn(status, ip, family);
      },
      host.c_str(), nullptr, &hints);
  if (err) {
    auto fn = std::move(r->cb);
    delete r;
    fn(err, "", 0);
  }
}

}  // namespace cluster::net::detail
