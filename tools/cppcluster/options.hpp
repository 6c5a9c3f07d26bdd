// `cppcluster run`'s options: what the command line says, checked before anything starts.
#pragma once

#include "listen.hpp"
#include "log_sink.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace cppcluster {

// When a plain program's worker counts as ready.
struct ReadyMode {
  enum class Kind { port, notify, delay };
  Kind kind = Kind::port;
  std::chrono::milliseconds delay{0};  // Kind::delay
};

// How PROGRAM runs: exec'd with systemd's sockets (any program), or as a real cluster worker
// (a program linking the library, or Node using cluster: cluster_mode.hpp).
enum class WorkerMode { exec, cluster };

// Everything `cppcluster run` was asked for.
struct RunOptions {
  std::vector<ListenSpec> listen;
  unsigned workers = 0;  // 0: the CPUs this process may use
  ReadyMode ready;
  std::chrono::milliseconds ready_timeout{30000};
  std::chrono::milliseconds graceful_timeout{30000};
  int stop_signal = 15;  // SIGTERM
  unsigned reload_batch = 1;
  int backlog = 2048;
  std::vector<std::string> command;  // PROGRAM ARGS...
  // --watchdog: a ready worker silent this long (no WATCHDOG=1) is replaced; 0: off.
  std::chrono::milliseconds watchdog{0};
  // --log-file PATH (empty: the terminal) and --log-format.
  std::string log_file;
  LogFormat log_format = LogFormat::text;
  // --admin HOST:PORT (admin_port < 0: none) and the ready workers /readyz wants.
  std::string admin_host;
  int admin_port = -1;
  unsigned min_ready = 1;
  // --control PATH: the control socket (empty: none).
  std::string control;
  // --reuseport: each worker its own SO_REUSEPORT socket (reuseport.hpp).
  bool reuseport = false;
  // --subreaper (implied as PID 1): reap orphaned descendants (reaper.hpp).
  bool subreaper = false;
  // --mode exec|cluster.
  WorkerMode mode = WorkerMode::exec;
  // --shutdown-delay: on SIGTERM/INT, /readyz turns 503 at once but the drain begins this later.
  std::chrono::milliseconds shutdown_delay{0};
};

// What `cppcluster status|reload|scale|stop` were asked for.
struct ControlOptions {
  std::string control;  // --control PATH, or $CPPCLUSTER_CONTROL
  bool json = false;    // status --json
  unsigned workers = 0; // scale N
};

// A usage error: the message to print, exit code 2.
struct UsageError {
  std::string message;
};

// "30" (seconds), "30s", "500ms", "2m"; throws std::invalid_argument naming option and text.
std::chrono::milliseconds parse_duration(std::string_view option, std::string_view text);
// "port", "notify", "delay:MS" (MS as parse_duration, bare numbers meaning milliseconds);
// throws std::invalid_argument.
ReadyMode parse_ready(std::string_view text);
// "TERM", "SIGTERM" or "15"; throws std::invalid_argument for an unknown or uncatchable signal.
int parse_signal(std::string_view option, std::string_view text);

// The outcome of parsing the whole command line.
struct Parsed {
  enum class Command { run, status, reload, scale, stop, upgrade, help_shown };
  Command command = Command::help_shown;
  RunOptions run;
  ControlOptions control;
};

// Parses argv (CLI11). Prints --help itself (Command::help_shown); throws UsageError for every
// bad option, address or value, and for a PROGRAM that cannot be found or executed.
Parsed parse_command_line(int argc, char** argv);

}  // namespace cppcluster
