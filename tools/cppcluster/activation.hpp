// cppcluster itself socket-activated: when systemd (or any socket-activation launcher) started
// the supervisor with LISTEN_FDS for its pid, it takes those sockets instead of binding --listen.
#pragma once

#include "listen.hpp"

#include <vector>

namespace cppcluster {

// The sockets passed to this process (fds 3.. when LISTEN_PID is this pid and LISTEN_FDS > 0),
// made close-on-exec and named from LISTEN_FDNAMES ("listen" when absent); LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES are removed from the environment. Empty when none were passed
// (or they were meant for another pid). Never fails: a descriptor that is not a socket is skipped.
std::vector<BoundSocket> inherited_sockets();

}  // namespace cppcluster
