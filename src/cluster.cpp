// lib/cluster.js: the role is decided once by whether NODE_UNIQUE_ID is in the environment.
#include "cluster/cluster.hpp"

#include "detail.hpp"
#include "uv/handle.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace cluster {
namespace {

// A server of this worker failed to listen or bind: it will never serve. Node's worker dies of
// the unhandled 'error' event (exit code 1, the error on stderr); so does this one, rather than
// stay alive and idle.
[[noreturn]] void exit_on_server_error(const SystemError& e) {
  const std::string code = err_name(e.code());
  const std::string host = e.address().value_or("null");
  const std::string address = e.address() ? "'" + host + "'" : "null";
  const std::string port = e.port() ? std::to_string(*e.port()) : "undefined";
  std::fprintf(stderr,
               "cppcluster: worker %d (pid %d): unhandled 'error' event on a server: %s %s %s:%s\n"
               "  code: '%s', syscall: '%s', address: %s, port: %s\n"
               "  The server is not listening: the worker exits with code 1, as a Node.js worker does "
               "(an error listener on the server would handle it instead).\n",
               worker().id(), static_cast<int>(uv_os_getpid()), e.syscall().c_str(), code.c_str(), host.c_str(),
               port.c_str(), code.c_str(), e.syscall().c_str(), address.c_str(), port.c_str());
  std::fflush(stdout);
  std::exit(1);
}

ErrorHook& error_hook() {
  static ErrorHook hook = [](const std::system_error& e, Worker* w) {
    const SystemError* se = system_error_of(e);
    if (!w && se && (se->syscall() == "listen" || se->syscall() == "bind") &&
        detail::role() == detail::Role::worker) {
      exit_on_server_error(*se);
    }
    if (w) {
      std::fprintf(stderr, "cppcluster: unhandled error on worker %d: %s (%s)\n", w->id(), e.what(),
                   err_name(e.code()).c_str());
    } else {
      std::fprintf(stderr, "cppcluster: unhandled error: %s (%s)\n", e.what(), err_name(e.code()).c_str());
    }
  };
  return hook;
}

// Node sets up a worker before any user code runs (pre_execution.js initializeClusterIPC): the
// online message leaves and NODE_UNIQUE_ID, NODE_CHANNEL_FD and NODE_CHANNEL_SERIALIZATION_MODE
// are gone from the environment before main(). All state setup_worker() touches is
// constructed on first use, so static initialization order does not matter.
struct WorkerBootstrap {
  WorkerBootstrap() {
    // Node ignores SIGPIPE in every process: a write to a closed pipe or socket is an EPIPE error
    // on that write, not the death of the process (`server | head -1`). A disposition set before
    // us is left alone; children get the default back (uv_spawn resets every signal).
    struct sigaction old{};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
    // The role is fixed before setup_worker() removes NODE_UNIQUE_ID from the environment.
    if (detail::role() == detail::Role::worker) child::setup_worker();
  }
};
const WorkerBootstrap bootstrap;

}  // namespace

namespace detail {

Role role() {
  static const Role r = std::getenv(wire::env_unique_id) ? Role::worker : Role::primary;
  return r;
}

void require_role(Role r, const char* what) {
  if (role() != r) {
    throw std::logic_error(std::string(what) +
                           (r == Role::primary ? " can only be called in the primary"
                                               : " can only be called in a worker"));
  }
}

void emit_error(Worker& w, const std::system_error& e) {
  if (w.listener_count(ev::error) > 0) {
    w.emit(ev::error, e);
  } else if (error_hook()) {
    error_hook()(e, &w);
  }
}

void report_error(const std::system_error& e) {
  if (error_hook()) error_hook()(e, nullptr);
}

}  // namespace detail

bool is_primary() {
  bool primary = detail::role() == detail::Role::primary;
  if (!primary) child::setup_worker();
  return primary;
}

bool is_master() { return is_primary(); }

bool is_worker() { return !is_primary(); }

Worker& worker() {
  detail::require_role(detail::Role::worker, "cluster::worker()");
  child::setup_worker();
  return child::current();
}

void process_disconnect() {
  detail::require_role(detail::Role::worker, "cluster::process_disconnect()");
  child::setup_worker();
  child::process_disconnect();
}

int run() {
  if (detail::role() == detail::Role::worker) child::setup_worker();
  uv::set_loop_running(true);
  uv_run(uv::loop(), UV_RUN_DEFAULT);
  uv::set_loop_running(false);
  return 0;
}

uv_loop_s* loop() { return uv::loop(); }

LoopBackend loop_backend() {
  uv_loop_t* l = uv::loop();
  return {uv_backend_fd(l), uv_backend_timeout(l), uv_loop_alive(l) != 0};
}

bool run_nowait() {
  if (detail::role() == detail::Role::worker) child::setup_worker();
  uv::set_loop_running(true);
  const bool alive = uv_run(uv::loop(), UV_RUN_NOWAIT) != 0;
  uv::set_loop_running(false);
  return alive;
}

unsigned available_parallelism() { return uv_available_parallelism(); }

void set_error_hook(ErrorHook hook) { error_hook() = std::move(hook); }

ClusterEmitter& events() {
  static ClusterEmitter* e = new ClusterEmitter();  // lives as long as the process
  return *e;
}

}  // namespace cluster
