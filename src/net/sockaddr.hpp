// Socket addresses and raw socket creation shared by net::Server, dgram::Socket and the primary's
// RoundRobinHandle/SharedHandle (Node's net._createServerHandle and dgram._createSocketHandle).
// Sockets are created with plain system calls so that bind errors (EADDRINUSE, EACCES) show at
// once instead of being deferred to listen() as libuv's uv_tcp_bind does.
#pragma once

#include "cluster/message.hpp"

#include <sys/socket.h>

#include <functional>
#include <optional>
#include <string>

namespace cluster::net::detail {

// What a descriptor is, by its socket type and family (libuv's uv__handle_type).
enum class SockKind { tcp, pipe, udp, unknown };
SockKind sock_kind(int fd);

// Fills out with host:port when host is an IPv4 or IPv6 literal; false otherwise.
bool make_sockaddr(const std::string& host, int port, sockaddr_storage& out);

// The local (getsockname) or remote (getpeername) address as Node's address object; nullopt when
// the call fails. A Unix socket gives its path with port -1.
std::optional<Address> local_address(int fd);
std::optional<Address> remote_address(int fd);
// Node's handle.getsockname(out) object: {address, family, port}; null when it fails.
Message sockname_json(int fd);

// What a listening or bound socket is made from: the fields of a queryServer message.
struct ServerSpec {
  std::optional<std::string> address;  // null: any address (:: dual-stack, else 0.0.0.0)
  int port = 0;                        // -1 with address_type -1: a Unix socket path
  int address_type = 4;                // 4, 6, -1 (Unix); ignored for UDP
  bool udp6 = false;                   // UDP only: udp6 rather than udp4
  std::optional<int> fd;               // an existing socket (dup'd, never taken)
  unsigned flags = 0;                  // UV_TCP_IPV6ONLY / UV_UDP_IPV6ONLY, UV_UDP_REUSEADDR
  int backlog = 511;
  bool readable_all = false;
  bool writable_all = false;
  bool reuse_port = false;             // SO_REUSEPORT before bind (sched_reuseport)
};

// Node's createServerHandle: a bound (not yet listening) TCP or Unix stream socket, or a dup of
// spec.fd. Returns the descriptor, or a negative libuv error (UV_EADDRINUSE, UV_EACCES, ...).
int create_server_socket(const ServerSpec& spec);
// Node's dgram._createSocketHandle: a bound UDP socket, or a dup of spec.fd; negative on error.
int create_udp_socket(const ServerSpec& spec);
// Listens on a bound stream socket; chmods a Unix socket for readable_all/writable_all.
// Returns 0 or a negative libuv error.
int listen_socket(int fd, const ServerSpec& spec);

// Resolves host (an IP literal at once, otherwise with getaddrinfo on the loop's thread pool).
// cb gets (0, ip, 4|6) or (negative libuv error, "", 0).
void lookup(const std::string& host, int family_hint, std::function<void(int, const std::string&, int)> cb);

// A negative libuv error from the current errno.
int last_error();

}  // namespace cluster::net::detail
