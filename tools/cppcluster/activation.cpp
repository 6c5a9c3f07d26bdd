#include "activation.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cppcluster {
namespace {

// "tcp://127.0.0.1:8000", "udp://[::1]:53", "unix:/run/app.sock" for the socket at fd.
std::string address_of(int fd, int type, ListenSpec& spec) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "fd " + std::to_string(fd);
  const std::string scheme = type == SOCK_DGRAM ? "udp://" : "tcp://";
  spec.kind = type == SOCK_DGRAM ? ListenSpec::Kind::udp : ListenSpec::Kind::tcp;
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    spec.host = host;
    spec.port = ntohs(a.sin_port);
    return scheme + host + ":" + std::to_string(spec.port);
  }
  if (ss.ss_family == AF_INET6) {
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    spec.host = host;
    spec.port = ntohs(a.sin6_port);
    return scheme + "[" + host + "]:" + std::to_string(spec.port);
  }
  // A Unix socket: spec.path stays empty, so close_all never removes systemd's file.
  spec.kind = ListenSpec::Kind::unix_stream;
  const auto& a = reinterpret_cast<sockaddr_un&>(ss);
  return std::string("unix:") + (a.sun_path[0] ? a.sun_path : "@abstract");
}

}  // namespace

std::vector<BoundSocket> inherited_sockets() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  const std::string names = std::getenv("LISTEN_FDNAMES") ? std::getenv("LISTEN_FDNAMES") : "";
  const bool ours = pid && fds && std::atoll(pid) == static_cast<long long>(::getpid());
  const int n = ours ? std::atoi(fds) : 0;
  for (const char* v : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) ::unsetenv(v);
  std::vector<BoundSocket> out;
  std::size_t from = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = 3 + i;
    const std::size_t colon = names.find(':', from);
    std::string name = names.empty() ? "listen" : names.substr(from, colon - from);
    from = colon == std::string::npos ? names.size() : colon + 1;
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) continue;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    BoundSocket b;
    b.fd = fd;
    b.spec.name = name.empty() ? "listen" : name;
    b.address = address_of(fd, type, b.spec);
    b.spec.text = b.address;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace cppcluster
