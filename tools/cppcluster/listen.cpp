#include "listen.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace cppcluster {
namespace {

bool valid_name(std::string_view n) {
  // systemd's FileDescriptorName: printable ASCII without ':' (the LISTEN_FDNAMES separator).
  if (n.empty() || n.size() > 255) return false;
  for (char c : n) {
    if (c <= ' ' || c > '~' || c == ':') return false;
  }
  return true;
}

int parse_port(std::string_view s, std::string_view arg) {
  int port = -1;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || port < 0 || port > 65535) {
    throw std::invalid_argument("bad port '" + std::string(s) + "' in --listen " + std::string(arg) +
                                " (a number from 0 to 65535)");
  }
  return port;
}

[[noreturn]] void fail(int err, const ListenSpec& s, const char* what) {
  throw std::system_error(err, std::generic_category(), "cannot listen on " + s.text + ": " + what);
}

// A Unix path is stale when nobody accepts on it: connecting is refused.
bool stale_unix_socket(const sockaddr_un& addr) {
  struct stat st {};
  if (::stat(addr.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool refused = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
                       errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

std::string format_inet(const sockaddr_storage& ss, const char* scheme) {
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    port = ntohs(a.sin6_port);
    return std::string(scheme) + "://[" + host + "]:" + std::to_string(port);
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
  ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
  port = ntohs(a.sin_port);
  return std::string(scheme) + "://" + host + ":" + std::to_string(port);
}

BoundSocket bind_inet(const ListenSpec& s, int backlog, Sharing sharing) {
  const bool stream = s.kind == ListenSpec::Kind::tcp;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(s.port);
  const int gai = ::getaddrinfo(s.host.empty() ? nullptr : s.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "cannot listen on " + s.text + ": " + ::gai_strerror(gai));
  }
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    ::freeaddrinfo(res);
    fail(err, s, std::strerror(err));
  }
  const int one = 1;
  if (stream) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool placeholder = sharing == Sharing::reuseport;
  if (placeholder) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // [::] means IPv6 only, as systemd's BindIPv6Only=both is not what "tcp://[::]" says.
  if (res->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const int rc = ::bind(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 || (stream && !placeholder && ::listen(fd, backlog) != 0)) {
    const int err = errno;
    ::close(fd);
    fail(err, s, std::strerror(err));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (placeholder && !stream) {
    // Connected, the placeholder gets no datagram but those from its own address and port (a
    // worker's socket sending to itself); a wildcard address is reached on the loopback.
    sockaddr_storage peer = ss;
    if (peer.ss_family == AF_INET) {
      auto& a = reinterpret_cast<sockaddr_in&>(peer);
      if (a.sin_addr.s_addr == htonl(INADDR_ANY)) a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
      auto& a = reinterpret_cast<sockaddr_in6&>(peer);
      if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) a.sin6_addr = in6addr_loopback;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), len) != 0) {
      const int err = errno;
      ::close(fd);
      fail(err, s, std::strerror(err));
    }
  }
  return {s, fd, format_inet(ss, stream ? "tcp" : "udp")};
}

BoundSocket bind_unix(const ListenSpec& s, int backlog) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, s.path.c_str(), s.path.size() + 1);
  if (stale_unix_socket(addr)) ::unlink(addr.sun_path);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno, s, std::strerror(errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err, s, std::strerror(err));
  }
  return {s, fd, "unix:" + s.path};
}

}  // namespace

ListenSpec parse_listen(std::string_view arg) {
  ListenSpec s;
  s.text = std::string(arg);
  std::string_view rest = arg;
  const auto scheme = rest.find("://");
  const auto eq = rest.find('=');
  if (eq != std::string_view::npos && (scheme == std::string_view::npos || eq < scheme) &&
      !rest.starts_with("unix:")) {
    s.name = std::string(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    if (!valid_name(s.name)) {
      throw std::invalid_argument("bad name '" + s.name + "' in --listen " + s.text +
                                  " (printable characters, no ':' or space)");
    }
  } else {
    s.name = "listen";
  }
  if (rest.starts_with("unix:")) {
    s.kind = ListenSpec::Kind::unix_stream;
    rest.remove_prefix(5);
    if (rest.starts_with("//")) rest.remove_prefix(2);  // unix:///run/x.sock
    s.path = std::string(rest);
    if (s.path.empty() || s.path[0] != '/') {
      throw std::invalid_argument("--listen " + s.text + ": a Unix socket needs an absolute path (unix:/run/app.sock)");
    }
    if (s.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::invalid_argument("--listen " + s.text + ": the path is longer than " +
                                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return s;
  }
  if (rest.starts_with("tcp://")) {
    s.kind = ListenSpec::Kind::tcp;
  } else if (rest.starts_with("udp://")) {
    s.kind = ListenSpec::Kind::udp;
  } else {
    throw std::invalid_argument("bad --listen " + s.text +
                                ": expected tcp://HOST:PORT, tcp://[IPV6]:PORT, udp://HOST:PORT or unix:/PATH");
  }
  rest.remove_prefix(6);
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw std::invalid_argument("bad --listen " + s.text + ": expected [IPV6]:PORT");
    }
    s.host = std::string(rest.substr(1, close - 1));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, s.host.c_str(), &a6) != 1) {
      throw std::invalid_argument("bad --listen " + s.text + ": '" + s.host + "' is not an IPv6 address");
    }
    s.port = parse_port(rest.substr(close + 2), arg);
    return s;
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    throw std::invalid_argument("bad --listen " + s.text + ": no port (tcp://HOST:PORT)");
  }
  s.host = std::string(rest.substr(0, colon));
  if (s.host.find(':') != std::string::npos) {
    throw std::invalid_argument("bad --listen " + s.text + ": write an IPv6 address in brackets (tcp://[::1]:8000)");
  }
  if (s.host.find('/') != std::string::npos) {
    throw std::invalid_argument("bad --listen " + s.text + ": '" + s.host + "' is not a host");
  }
  s.port = parse_port(rest.substr(colon + 1), arg);
  return s;
}

std::vector<BoundSocket> bind_all(const std::vector<ListenSpec>& specs, int backlog, Sharing sharing) {
  std::vector<BoundSocket> out;
  try {
    for (const auto& s : specs) {
      if (s.kind == ListenSpec::Kind::unix_stream && sharing == Sharing::reuseport) {
        fail(EINVAL, s, "a Unix socket cannot be shared with SO_REUSEPORT");
      }
      out.push_back(s.kind == ListenSpec::Kind::unix_stream ? bind_unix(s, backlog) : bind_inet(s, backlog, sharing));
    }
  } catch (...) {
    close_all(out);
    throw;
  }
  return out;
}

void close_all(std::vector<BoundSocket>& sockets) {
  for (auto& b : sockets) {
    if (b.fd >= 0) ::close(b.fd);
    b.fd = -1;
    if (b.spec.kind == ListenSpec::Kind::unix_stream) ::unlink(b.spec.path.c_str());
  }
  sockets.clear();
}

}  // namespace cppcluster
