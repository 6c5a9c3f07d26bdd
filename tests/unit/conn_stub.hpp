// Connection stand-ins for the hand-off unit tests (RoundRobinHandle, schedulers).
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace unit_conn {

// One end of a socketpair (the other end is closed at once).
inline int conn() {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  ::close(sv[1]);
  return sv[0];
}

// Whether fd is still an open descriptor of this process.
inline bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace unit_conn
