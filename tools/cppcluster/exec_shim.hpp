// The worker side of `cppcluster run` in a plain program's process: the supervisor forks this
// same binary in a hidden mode (`cppcluster __exec -- PROGRAM ARGS`), which waits for the
// supervisor's go-ahead on the cluster channel, sets systemd's socket-activation variables for
// its own pid (LISTEN_PID can only be known after the fork) and execs the program: same pid.
#pragma once

#include <string_view>

namespace cppcluster {

// The hidden subcommand's name.
inline constexpr std::string_view exec_shim_command = "__exec";

// Wire and environment names shared by the supervisor and the shim.
namespace shim_wire {
// Supervisor -> shim, on the channel: {"cmd":"CPPCLUSTER_EXEC","notify":"/path or empty"}.
inline constexpr const char* go_cmd = "CPPCLUSTER_EXEC";
// Supervisor -> shim before the go-ahead, with --reuseport: {"cmd":"CPPCLUSTER_SOCKET","index":I}
// carrying the worker's own socket for the I-th --listen address (it replaces fd 3+I).
inline constexpr const char* socket_cmd = "CPPCLUSTER_SOCKET";
// Set by the supervisor for every worker: how many sockets sit at fds 3.. and their names.
inline constexpr const char* env_fds = "CPPCLUSTER_LISTEN_FDS";
inline constexpr const char* env_fdnames = "CPPCLUSTER_LISTEN_FDNAMES";
// The supervisor's pid: the shim execs only while its parent is still that process.
inline constexpr const char* env_supervisor_pid = "CPPCLUSTER_SUPERVISOR_PID";
// --watchdog: the interval in microseconds, given to the program as WATCHDOG_USEC.
inline constexpr const char* env_watchdog_usec = "CPPCLUSTER_WATCHDOG_USEC";
// The worker's id (the program sees it as CPPCLUSTER_WORKER_ID).
inline constexpr const char* env_worker_id = "CPPCLUSTER_WORKER_ID";
}  // namespace shim_wire

// Runs the shim with argv after the subcommand; returns only on failure (the exit code: 127
// when the program cannot be executed, 1 when the supervisor's go-ahead never came or the
// supervisor died before the exec). The program gets SIGTERM when the supervisor dies, even of
// SIGKILL (PR_SET_PDEATHSIG, kept across the exec).
int exec_shim_main(int argc, char** argv);

}  // namespace cppcluster
