// Listen addresses of `cppcluster run --listen [NAME=]ADDRESS`: parsing (tcp://HOST:PORT,
// tcp://[V6]:PORT, udp://..., unix:/path) and binding them in the supervisor, so that every
// worker inherits the same sockets (systemd's socket activation: LISTEN_FDS from fd 3).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cppcluster {

// One --listen argument, parsed.
struct ListenSpec {
  enum class Kind { tcp, udp, unix_stream };
  Kind kind = Kind::tcp;
  std::string name;  // LISTEN_FDNAMES entry: the NAME= prefix, else "listen"
  std::string host;  // tcp/udp: a numeric address or a host name; unix: empty
  int port = 0;      // tcp/udp: 0 lets the kernel choose (the log line says which)
  std::string path;  // unix: the socket file
  std::string text;  // the argument as given, for messages
};

// Parses "[NAME=]tcp://HOST:PORT" and its udp:// and unix: forms; throws std::invalid_argument
// with a message naming what is wrong (no scheme, bad port, bad name, path too long).
ListenSpec parse_listen(std::string_view arg);

// A bound socket: its descriptor (close-on-exec in the supervisor) and where it listens.
struct BoundSocket {
  ListenSpec spec;
  int fd = -1;
  std::string address;  // "tcp://127.0.0.1:41234" with the port the kernel chose
};

// How the workers get a --listen address: all the supervisor's one socket, or (--reuseport) each
// its own SO_REUSEPORT socket beside a placeholder the supervisor keeps bound.
enum class Sharing { shared, reuseport };

// Binds (and for streams listens on, with backlog) every spec, in order. With Sharing::reuseport
// each socket is a placeholder that keeps the port: SO_REUSEPORT, a TCP one never listening (the
// kernel spreads connections over listening sockets only), a UDP one connected to its own address
// (the kernel skips connected sockets when it spreads datagrams); a Unix path is EINVAL. Throws
// std::system_error naming the address on the first failure (EADDRINUSE, EACCES, a host that
// does not resolve); the sockets bound before it are closed then. A Unix path left by a dead
// process (nobody accepts on it) is replaced; one in use is EADDRINUSE.
std::vector<BoundSocket> bind_all(const std::vector<ListenSpec>& specs, int backlog, Sharing sharing = Sharing::shared);

// Closes the sockets and removes the Unix socket files the supervisor created.
void close_all(std::vector<BoundSocket>& sockets);

}  // namespace cppcluster
