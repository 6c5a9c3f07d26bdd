// The worker fuzz_primary_acts forks (not a fuzz target, no cppcluster inside): it hands its end
// of the IPC channel (NODE_CHANNEL_FD) back to the fuzzer over the socket at descriptor 4, so the
// fuzzer writes the worker's frames itself, closes its own copy and says so, then waits until the
// fuzzer closes that socket.
#include "fd_passing.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace {

constexpr int back_fd = 4;

}  // namespace

// Hands the channel over, then lives until the fuzzer lets go (or dies).
int main() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char* channel = std::getenv("NODE_CHANNEL_FD");
  const int fd = channel ? std::atoi(channel) : -1;
  if (fd < 0 || fuzz::send_with_fds(back_fd, "c", &fd, 1) != 1) return 1;
  ::close(fd);
  // Says its copy is closed: from now on the fuzzer's end is the channel's only other end, so
  // closing it is seen by the primary at once.
  if (::write(back_fd, "d", 1) != 1) return 1;
  char byte;
  while (::read(back_fd, &byte, 1) > 0) {
  }
  return 0;
}
