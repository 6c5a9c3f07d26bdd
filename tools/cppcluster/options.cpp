#include "options.hpp"

#include "config_file.hpp"

#include "cluster/child_process.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace cppcluster {
namespace {

const char* const run_description =
    "cppcluster run [OPTIONS] -- PROGRAM [ARGS...]\n\n"
    "Runs PROGRAM as a pool of N worker processes. The supervisor binds every --listen address\n"
    "once and passes the sockets to each worker with systemd's socket-activation protocol:\n"
    "the sockets are descriptors 3, 4, ... in --listen order, LISTEN_FDS says how many,\n"
    "LISTEN_PID is the worker's own pid and LISTEN_FDNAMES their names (NAME=, else \"listen\").\n"
    "Any program that accepts systemd sockets works unchanged (Python socket.socket(fileno=3),\n"
    "Go coreos/go-systemd/activation, gunicorn, uvicorn --fd 3, Node's listen({fd: 3})).\n"
    "A worker that exits is replaced after a growing backoff; 5 unexpected exits within 30 s\n"
    "stop the respawning (crash loop) and the supervisor exits 1. Each worker's stdout and\n"
    "stderr go to the supervisor's, every line prefixed with \"[wID PID] \".\n"
    "The program sees CPPCLUSTER_WORKER_ID (1, 2, ...; a replacement gets a new id).";

const char* const run_footer = R"(
READINESS (--ready)
  port      the worker counts as ready once PROGRAM runs (its exec succeeded). With shared
            sockets the kernel queues connections on the supervisor's socket whatever the
            workers do, so a connection probe would say nothing about one worker: this is as
            much as "the port answers" can honestly mean. The default.
  notify    the worker gets its own NOTIFY_SOCKET and is ready when it sends READY=1 (sd_notify);
            STATUS=, WATCHDOG=1 and STOPPING=1 are understood.
  delay:MS  ready MS milliseconds after PROGRAM started.
  A worker not ready within --ready-timeout is killed and counted as a failed start. A reload
  retires an old worker only once its replacement is ready, so a replacement that never gets
  ready stops the reload and the old workers keep serving.

WATCHDOG (--watchdog DURATION, with --ready notify)
  Each worker's program gets WATCHDOG_USEC (DURATION) and WATCHDOG_PID (its own pid), as systemd
  gives them to a service with WatchdogSec= (sd_watchdog_enabled() says yes). Once ready, a worker
  must send WATCHDOG=1 at least once every DURATION (every half of it is usual). A worker silent
  that long, or one that sends WATCHDOG=trigger, is hung: the log says so, it gets SIGTERM, then
  SIGKILL after --graceful-timeout or 5 s, whichever is shorter, and the pool replaces it as any
  worker that died (counted toward a crash loop). Retiring and stopping (STOPPING=1) workers are
  not watched.

SIGNALS
  HUP       rolling reload: new workers one --reload-batch at a time, old ones retired once
            the new ones are ready
  TERM, INT graceful stop: every worker gets --stop-signal, those alive after
            --graceful-timeout are killed; exit 0
  QUIT      immediate stop (SIGKILL to every worker); exit 0
  TTIN      one worker more
  TTOU      one worker less (never under 1)
  USR1      reopen --log-file (after logrotate moved it)
  USR2      upgrade in place: execve() of the binary at the path cppcluster was started from,
            same pid, sockets kept; new workers start, the old ones retire once those are ready

HTTP ENDPOINT (--admin HOST:PORT)
  /healthz  200 while the supervisor runs
  /readyz   200 when at least --min-ready workers are ready and no stop has begun, else 503
            (on SIGTERM it turns 503 at once, before the drain: a load balancer or Kubernetes
            stops sending new connections while the workers finish theirs)
  /metrics  Prometheus text format: workers by state, per-worker RSS, CPU, uptime, restarts,
            reloads and the last reload's duration, crash loop
  /status   the workers as JSON (id, pid, slot, state, uptime, restarts, RSS, CPU, status)

SYSTEMD
  Started with NOTIFY_SOCKET (Type=notify), the supervisor sends READY=1 once --min-ready
  workers are ready, RELOADING=1 with MONOTONIC_USEC during a reload then READY=1, STOPPING=1 on
  stop, STATUS= with the pool's state, and WATCHDOG=1 every half WATCHDOG_USEC. Started with
  LISTEN_FDS for its own pid (a .socket unit), it takes those sockets instead of binding --listen.
  Example units: examples/systemd/.

CONTROL SOCKET (--control PATH)
  A Unix stream socket, mode 0600 (only this user), serving the same HTTP endpoints as --admin
  plus the actions of the commands below; removed on exit. A stale socket left by a killed
  supervisor is replaced; one a live supervisor listens on is an error.
    cppcluster status [--json]   the workers: id, pid, state, uptime, restarts, connections, RSS, CPU
    cppcluster reload            a rolling reload, as SIGHUP
    cppcluster scale N           N workers
    cppcluster stop              a graceful stop, as SIGTERM
    cppcluster upgrade           an upgrade in place, as SIGUSR2
  Each takes --control PATH (default: $CPPCLUSTER_CONTROL) and exits 1 with a message when no
  supervisor listens there.

LOGS (--log-file PATH, --log-format text|json)
  Each line a worker writes on stdout or stderr is written whole, in one write, with the worker's
  id and pid, so lines of two workers never mix: "[w3 1234] LINE" as text (the default), or with
  --log-format json one object a line:
    {"time":"2026-12-03T12:36:02.123Z","source":"worker","worker":3,"pid":1234,
     "stream":"stdout","line":"..."}
  The supervisor's own lines are "cppcluster: TEXT", or objects with "source":"cppcluster" and
  "worker":null. Without --log-file they go to the terminal (a worker's stdout to stdout, the
  rest to stderr); with it, all of them to PATH, appended. A line over 16 KiB is cut in pieces;
  bytes that are not UTF-8 become U+FFFD in JSON. SIGUSR1 opens PATH again by its name, so
  logrotate's move-then-signal loses nothing (postrotate: kill -USR1 SUPERVISOR_PID). A worker's
  last lines are read to the end of its pipes, also when the supervisor stops.

CONFIG FILE (--config FILE)
  A TOML file setting options of run under their long names, and PROGRAM ARGS as command. An
  option on the command line wins over the file, and a PROGRAM after -- over command:
    workers = 4
    listen = ["tcp://127.0.0.1:8000", "api=unix:/run/app/api.sock"]
    ready = "notify"
    watchdog = "10s"
    graceful-timeout = "10s"    # or a number of seconds: 10
    log-file = "/var/log/app/app.log"
    command = ["python3", "app.py"]
  Flags take true or false. An unknown key, a value of the wrong type or a bad value is an error
  naming the file, its line and the key (exit 2).

EXIT STATUS
  0  stopped by a signal or `cppcluster stop`
  1  a runtime failure: an address could not be bound, --log-file could not be opened, or the
     workers crash-looped
  2  a usage error: a bad option, address or value, a bad --config file, or PROGRAM not found

EXAMPLES
  Four Python workers sharing port 8000:
    cppcluster run --listen tcp://127.0.0.1:8000 --workers 4 -- python3 app.py
  Two named sockets, readiness by sd_notify, 10 s to finish requests on stop:
    cppcluster run --listen web=tcp://[::1]:8080 --listen admin=unix:/run/app/admin.sock \
      --ready notify --graceful-timeout 10s -- ./server --config prod.toml
  Options from a file, one of them changed for this run:
    cppcluster run --config /etc/app/cppcluster.toml --workers 8
  JSON lines to a file that logrotate rotates (postrotate: kill -USR1 SUPERVISOR_PID):
    cppcluster run --log-file /var/log/app/app.log --log-format json \
      --listen tcp://0.0.0.0:8000 -- ./server
  Readiness by sd_notify, and a worker that stops sending WATCHDOG=1 for 10 s replaced:
    cppcluster run --ready notify --watchdog 10s --listen tcp://127.0.0.1:8000 -- ./server
  Reload after a deploy, and add a worker:
    kill -HUP $(pidof cppcluster); kill -TTIN $(pidof cppcluster)
  The same through the control socket:
    cppcluster run --control $XDG_RUNTIME_DIR/app.sock --listen tcp://127.0.0.1:8000 -- ./server &
    export CPPCLUSTER_CONTROL=$XDG_RUNTIME_DIR/app.sock
    cppcluster reload; cppcluster scale 5; cppcluster status
)";

std::string trim_sig(std::string_view s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u.rfind("SIG", 0) == 0) u.erase(0, 3);
  return u;
}

bool executable_found(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    if (::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view option, std::string_view text) {
  std::string_view num = text, unit;
  const auto at = text.find_first_not_of("0123456789");
  if (at != std::string_view::npos) {
    num = text.substr(0, at);
    unit = text.substr(at);
  }
  long long n = -1;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  long long scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60000;
  if (num.empty() || ec != std::errc{} || p != num.data() + num.size() || scale == 0 || n > 86400000LL) {
    throw std::invalid_argument(std::string(option) + ": bad duration '" + std::string(text) +
                                "' (seconds, or with a unit: 500ms, 30s, 2m)");
  }
  return std::chrono::milliseconds(n * scale);
}

ReadyMode parse_ready(std::string_view text) {
  ReadyMode m;
  if (text == "port") return m;
  if (text == "notify") {
    m.kind = ReadyMode::Kind::notify;
    return m;
  }
  if (text.rfind("delay:", 0) == 0) {
    m.kind = ReadyMode::Kind::delay;
    std::string_view v = text.substr(6);
    // A bare number here is milliseconds (delay:MS).
    const bool bare = !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    m.delay = bare ? parse_duration("--ready", std::string(v) + "ms") : parse_duration("--ready", v);
    return m;
  }
  throw std::invalid_argument("--ready: '" + std::string(text) + "' is not port, notify or delay:MS");
}

int parse_signal(std::string_view option, std::string_view text) {
  int sig = 0;
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), sig);
    if (ec != std::errc{} || p != text.data() + text.size()) sig = 0;
  } else {
    sig = cluster::signal_number("SIG" + trim_sig(text));
  }
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    if (sig == SIGKILL) return sig;  // a stop signal may be KILL: no grace at all
    throw std::invalid_argument(std::string(option) + ": '" + std::string(text) + "' is not a signal");
  }
  return sig;
}

Parsed parse_command_line(int argc, char** argv) {
  CLI::App app{"cppcluster: run any program as a pool of worker processes", "cppcluster"};
  app.require_subcommand(1);
  app.footer("Run 'cppcluster run --help' for the options of run.");
  app.get_formatter()->column_width(34);

  Parsed out;
  RunOptions& o = out.run;
  std::vector<std::string> listen;
  std::string ready = "port", ready_timeout = "30s", graceful = "30s", stop_signal = "TERM";
  CLI::App* run = app.add_subcommand("run", "run PROGRAM as a pool of workers");
  run->description(run_description);
  run->footer(run_footer);
  run->add_option("-l,--listen", listen,
                  "[NAME=]tcp://HOST:PORT, tcp://[IPV6]:PORT, udp://HOST:PORT or unix:/PATH to bind "
                  "and pass to every worker (repeatable; port 0 picks a free one, the log says which)")
      ->type_name("ADDR");
  run->add_option("-w,--workers", o.workers, "worker processes (default: one per CPU)")
      ->type_name("N")
      ->check(CLI::Range(1u, 4096u));
  run->add_option("--ready", ready, "when a worker is ready: port (default), notify, delay:MS")
      ->type_name("MODE");
  run->add_option("--ready-timeout", ready_timeout, "a worker not ready this long is killed (default 30s)")
      ->type_name("DURATION");
  run->add_option("--graceful-timeout", graceful,
                  "time a stopping or retired worker has before SIGKILL (default 30s)")
      ->type_name("DURATION");
  run->add_option("--stop-signal", stop_signal, "signal that retires a worker (default TERM)")
      ->type_name("SIGNAL");
  std::string watchdog = "0", log_format = "text", config_path;
  run->add_option("--watchdog", watchdog,
                  "with --ready notify: a ready worker that sends no WATCHDOG=1 for this long is "
                  "replaced; workers get WATCHDOG_USEC (default 0: off)")
      ->type_name("DURATION");
  run->add_option("--log-file", o.log_file,
                  "write the workers' lines and the supervisor's own to PATH instead of the terminal "
                  "(appended to; SIGUSR1 reopens it)")
      ->type_name("PATH");
  run->add_option("--log-format", log_format, "text ([wID PID] LINE, the default) or json (a JSON object a line)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  run->add_option("--config", config_path,
                  "read options from a TOML file, with the long options' names as keys; the command "
                  "line wins")
      ->type_name("FILE");
  run->add_option("--reload-batch", o.reload_batch, "workers a reload replaces at a time (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1u, 4096u));
  run->add_option("--backlog", o.backlog, "listen backlog of stream sockets (default 2048)")
      ->type_name("N")
      ->check(CLI::Range(1, 65535));
  std::string admin;
  run->add_option("--admin", admin,
                  "serve /healthz, /readyz, /metrics (Prometheus) and /status (JSON) over HTTP on "
                  "HOST:PORT, e.g. 127.0.0.1:9100")
      ->type_name("HOST:PORT");
  run->add_option("--control", o.control,
                  "serve the control socket (cppcluster status, reload, scale, stop) at PATH, mode 0600")
      ->type_name("PATH");
  run->add_option("--min-ready", o.min_ready, "ready workers /readyz needs (default 1)")
      ->type_name("N")
      ->check(CLI::Range(1u, 4096u));
  run->add_flag("--reuseport", o.reuseport,
                "give each worker its own SO_REUSEPORT socket on every tcp:// and udp:// address instead "
                "of the supervisor's one (the kernel spreads connections; not for unix:)");
  std::string shutdown_delay = "0";
  run->add_option("--shutdown-delay", shutdown_delay,
                  "on SIGTERM or SIGINT, /readyz turns 503 at once but the workers keep serving this long "
                  "before the graceful stop (a load balancer's time to notice; Kubernetes' preStop sleep)")
      ->type_name("DURATION");
  std::string mode = "exec";
  run->add_option("--mode", mode,
                  "exec (default): PROGRAM gets the --listen sockets by LISTEN_FDS; cluster: PROGRAM links "
                  "cppcluster or is Node using cluster, and joins as a real cluster worker whose listen() "
                  "the supervisor serves (round robin)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"exec", "cluster"}));
  run->add_flag("--subreaper", o.subreaper,
                "adopt and reap orphaned descendants of the workers (always on as PID 1, in a container)");
  run->allow_extras();

  ControlOptions& c = out.control;
  const auto control_command = [&](const char* name, const char* what) {
    CLI::App* sub = app.add_subcommand(name, what);
    sub->add_option("--control", c.control, "the supervisor's control socket (default: $CPPCLUSTER_CONTROL)")
        ->type_name("PATH")
        ->envname("CPPCLUSTER_CONTROL");
    return sub;
  };
  CLI::App* status = control_command("status", "the workers of a running supervisor, as a table");
  status->add_flag("--json", c.json, "the supervisor's /status JSON instead of the table");
  CLI::App* reload = control_command("reload", "a rolling reload of a running supervisor (as SIGHUP)");
  CLI::App* scale = control_command("scale", "set the number of workers of a running supervisor");
  scale->add_option("N", c.workers, "workers")->required()->check(CLI::Range(1u, 4096u));
  CLI::App* stop = control_command("stop", "a graceful stop of a running supervisor (as SIGTERM)");
  CLI::App* upgrade = control_command("upgrade", "re-execute a running supervisor's binary in place, same pid (as SIGUSR2)");

  if (argc < 2) throw UsageError{"no command: cppcluster run [OPTIONS] -- PROGRAM [ARGS...]"};
  if (const std::string_view cmd = argv[1];
      cmd[0] != '-' && cmd != "run" && cmd != "status" && cmd != "reload" && cmd != "scale" && cmd != "stop" &&
      cmd != "upgrade") {
    throw UsageError{"unknown command '" + std::string(argv[1]) + "' (the commands: run, status, reload, scale, stop, upgrade)"};
  }
  // Everything after the first "--" is PROGRAM and its arguments, untouched by the parser.
  std::vector<std::string> args;
  bool marked = false;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 wants them reversed
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      marked = true;
      o.command.assign(argv + i + 1, argv + argc);
      args.assign(args.begin() + (argc - i), args.end());
      break;
    }
  }
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    // The help of the subcommand that was named, else the top level's.
    const CLI::App* named = app.get_subcommands().empty() ? &app : app.get_subcommands().front();
    std::cout << named->help();
    out.command = Parsed::Command::help_shown;
    return out;
  } catch (const CLI::ParseError& e) {
    throw UsageError{e.what()};
  }
  for (auto [sub, cmd] : {std::pair{status, Parsed::Command::status}, std::pair{reload, Parsed::Command::reload},
                          std::pair{scale, Parsed::Command::scale}, std::pair{stop, Parsed::Command::stop},
                          std::pair{upgrade, Parsed::Command::upgrade}}) {
    if (!sub->parsed()) continue;
    if (c.control.empty()) {
      throw UsageError{std::string(sub->get_name()) + ": no control socket: pass --control PATH or set CPPCLUSTER_CONTROL"};
    }
    out.command = cmd;
  }
  if (run->parsed()) {
    out.command = Parsed::Command::run;
    if (!config_path.empty()) apply_config_file(*run, config_path, o.command);
    const auto extras = run->remaining();
    if (!extras.empty()) {
      if (extras.front().size() > 1 && extras.front()[0] == '-') {
        throw UsageError{"run: unknown option " + extras.front()};
      }
      throw UsageError{"run: unexpected '" + extras.front() +
                       "': write the program after --, as in cppcluster run [OPTIONS] -- PROGRAM [ARGS...]"};
    }
    if (o.command.empty()) {
      throw UsageError{std::string("run: no PROGRAM") + (marked ? " after --" : "") +
                       " (cppcluster run [OPTIONS] -- PROGRAM [ARGS...])"};
    }
    try {
      for (const auto& l : listen) o.listen.push_back(parse_listen(l));
      o.ready = parse_ready(ready);
      o.ready_timeout = parse_duration("--ready-timeout", ready_timeout);
      o.graceful_timeout = parse_duration("--graceful-timeout", graceful);
      o.shutdown_delay = parse_duration("--shutdown-delay", shutdown_delay);
      o.stop_signal = parse_signal("--stop-signal", stop_signal);
      o.watchdog = parse_duration("--watchdog", watchdog);
      o.log_format = log_format == "json" ? LogFormat::json : LogFormat::text;
      if (!admin.empty()) {
        ListenSpec a;
        try {
          a = parse_listen("tcp://" + admin);
        } catch (const std::invalid_argument&) {
          throw std::invalid_argument("bad --admin " + admin + ": expected HOST:PORT or [IPV6]:PORT");
        }
        o.admin_host = a.host.empty() ? "0.0.0.0" : a.host;
        o.admin_port = a.port;
      }
    } catch (const std::invalid_argument& e) {
      throw UsageError{e.what()};
    }
    if (o.ready_timeout.count() == 0) throw UsageError{"--ready-timeout: must be more than 0"};
    if (o.watchdog.count() > 0 && o.ready.kind != ReadyMode::Kind::notify) {
      throw UsageError{"--watchdog: needs --ready notify (a worker sends WATCHDOG=1 on its NOTIFY_SOCKET)"};
    }
    o.mode = mode == "cluster" ? WorkerMode::cluster : WorkerMode::exec;
    if (o.mode == WorkerMode::cluster && !o.listen.empty()) {
      throw UsageError{"--mode cluster: the workers' own listen() calls choose the addresses (the supervisor binds "
                       "each at the first worker's request, as Node's primary does); --listen is for --mode exec"};
    }
    if (o.mode == WorkerMode::cluster && ready != "port") {
      throw UsageError{"--mode cluster: a worker is ready once it listens; --ready is for --mode exec"};
    }
    for (const auto& l : o.listen) {
      if (o.reuseport && l.kind == ListenSpec::Kind::unix_stream) {
        throw UsageError{"--reuseport: --listen " + l.text + ": a Unix socket cannot be shared with SO_REUSEPORT (tcp:// and udp:// only)"};
      }
    }
    if (!executable_found(o.command.front())) {
      throw UsageError{"run: " + o.command.front() + ": no such executable" +
                       (o.command.front().find('/') == std::string::npos ? " in PATH" : "")};
    }
  }
  return out;
}

}  // namespace cppcluster
