#include "exec_shim.hpp"

#include "cluster/cluster.hpp"

#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cppcluster {
namespace {

// Replaces this process with the program (same pid); returns only if the exec failed.
[[noreturn]] void exec_program(char** command, int worker_id, const std::string& notify,
                               const std::map<int, int>& own_sockets) {
  // --reuseport: the worker's own sockets take the places of the supervisor's placeholders.
  for (const auto& [index, fd] : own_sockets) {
    ::dup2(fd, 3 + index);
    ::close(fd);
  }
  // The library set the channel close-on-exec: it closes with the exec, which the supervisor
  // reads as "the program runs".
  ::setenv(shim_wire::env_worker_id, std::to_string(worker_id).c_str(), 1);
  for (const char* v : {"NODE_UNIQUE_ID", "NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "LISTEN_FDS",
                        "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) {
    ::unsetenv(v);
  }
  const char* fds = std::getenv(shim_wire::env_fds);
  if (fds && std::atoi(fds) > 0) {
    ::setenv("LISTEN_FDS", fds, 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    if (const char* names = std::getenv(shim_wire::env_fdnames)) ::setenv("LISTEN_FDNAMES", names, 1);
  }
  ::unsetenv(shim_wire::env_fds);
  ::unsetenv(shim_wire::env_fdnames);
  // No orphans: the program gets SIGTERM when the supervisor dies, however it dies. Set before
  // the check, so a supervisor dying between the two is still seen: then the parent is already
  // another process (init or a subreaper) and the program must not start.
  const char* sup = std::getenv(shim_wire::env_supervisor_pid);
  const pid_t supervisor = sup ? static_cast<pid_t>(std::atol(sup)) : 0;
  ::unsetenv(shim_wire::env_supervisor_pid);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (supervisor <= 0 || ::getppid() != supervisor) {
    std::fprintf(stderr, "cppcluster: the supervisor is gone; not starting %s\n", command[0]);
    std::_Exit(1);
  }
  if (!notify.empty()) ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
  // --watchdog: systemd's pair, WATCHDOG_PID naming this process (known only after the fork).
  const char* watchdog = std::getenv(shim_wire::env_watchdog_usec);
  if (!notify.empty() && watchdog && std::atoll(watchdog) > 0) {
    ::setenv("WATCHDOG_USEC", watchdog, 1);
    ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  }
  ::unsetenv(shim_wire::env_watchdog_usec);
  // The program starts as if forked by a plain shell: default SIGPIPE (the library ignores it,
  // and an ignored signal stays ignored across exec), nothing blocked.
  std::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execvp(command[0], command);
  const int err = errno;
  std::fprintf(stderr, "cppcluster: cannot run %s: %s\n", command[0], std::strerror(err));
  std::_Exit(127);
}

}  // namespace

int exec_shim_main(int argc, char** argv) {
  int first = 0;
  if (first < argc && std::strcmp(argv[first], "--") == 0) ++first;
  // The library made this process a cluster worker before main() (its channel is open, the
  // NODE_* variables are gone): the go-ahead arrives as a message on that channel.
  if (first >= argc || !cluster::is_worker()) {
    std::fprintf(stderr, "cppcluster: %s is internal to cppcluster run\n", exec_shim_command.data());
    return 2;
  }
  char** command = argv + first;
  cluster::Worker& self = cluster::worker();
  const int id = self.id();
  const char* count = std::getenv(shim_wire::env_fds);
  const int fds = count ? std::atoi(count) : 0;
  auto own_sockets = std::make_shared<std::map<int, int>>();
  self.on(cluster::ev::message, [command, id, fds, own_sockets](const cluster::Message& m, cluster::Handle& h) {
    if (!m.is_object()) return;
    const std::string cmd = m.value("cmd", "");
    if (cmd == shim_wire::socket_cmd && h) {
      const int index = m.value("index", -1);
      if (index < 0 || index >= fds) return;
      if (auto old = own_sockets->find(index); old != own_sockets->end()) ::close(old->second);
      (*own_sockets)[index] = h.release();
    } else if (cmd == shim_wire::go_cmd) {
      exec_program(command, id, m.value("notify", ""), *own_sockets);
    }
  });
  // Retired before it started: the library ends the worker on its disconnect.
  cluster::run();
  return 1;
}

}  // namespace cppcluster
