// lib/internal/cluster/primary.js: settings, fork, the registry of workers, and the primary's side
// of the NODE_CLUSTER protocol.
#include "primary.hpp"

#include "child_process.hpp"
#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "query_server.hpp"
#include "scheduler/connection_stats.hpp"
#include "uv/handle.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>

extern char** environ;

namespace cluster {
namespace {

struct PrimaryState {
  Settings settings;
  bool initialized = false;
  int ids = 0;
  std::map<int, std::shared_ptr<Worker>> workers;
  // Workers whose process or channel is still open, kept alive even after leaving workers()
  // (Node: the ChildProcess handle keeps itself alive until it exits).
  std::map<int, std::shared_ptr<Worker>> live;
  int policy = 0;  // 0 until read from the environment
  bool policy_frozen = false;
  int debug_port_offset = 1;
  Signal<> intercom_disconnect;  // Node's intercom 'disconnect', for cluster.disconnect(cb)
  listener_id next_intercom_id = 0;
  std::map<std::string, internal::ActHandler> acts;
  std::function<void(Worker&)> remove_handles;
  std::function<bool()> handles_open;
};

PrimaryState& st() {
  static PrimaryState* s = new PrimaryState();  // lives as long as the process
  return *s;
}

// The policy NODE_CLUSTER_SCHED_POLICY names; unset or empty is sched_rr. Node 20 takes any other
// value for rr without a word; the primary throws std::invalid_argument naming the valid ones
// instead (a typo would otherwise silently change how connections are spread). A worker, which
// inherits the variable and schedules nothing, reads an unknown value as rr.
int initial_policy() {
  const char* p = std::getenv(wire::env_sched_policy);
  const std::string v = p ? p : "";
  if (v.empty() || v == "rr") return sched_rr;
  if (v == "none") return sched_none;
  if (v == "reuseport") return sched_reuseport;
  if (detail::role() == detail::Role::worker) return sched_rr;
  throw std::invalid_argument(std::string(wire::env_sched_policy) + "=" + v +
                              " is not a scheduling policy: use rr, none or reuseport "
                              "(or call cluster::set_scheduling_policy() before the first fork)");
}

// This program and its arguments, read once (Node: process.argv[1] and process.argv.slice(2)).
struct SelfArgs {
  std::string exe;
  std::vector<std::string> args;
};

const SelfArgs& self_args() {
  static const SelfArgs a = [] {
    SelfArgs r;
    char buf[4096];
    size_t len = sizeof buf;
    if (uv_exepath(buf, &len) == 0) r.exe.assign(buf, len);
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    std::size_t start = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i] == '\0') {
        argv.emplace_back(all, start, i - start);
        start = i + 1;
      }
    }
    if (!argv.empty()) r.args.assign(argv.begin() + 1, argv.end());
    return r;
  }();
  return a;
}

template <class T>
void overlay(maybe<T>& to, const maybe<T>& from) {
  if (from) to = from;
}

void merge(Settings& to, const Settings& from) {
  overlay(to.exec_path, from.exec_path);
  overlay(to.exec, from.exec);
  overlay(to.args, from.args);
  overlay(to.exec_argv, from.exec_argv);
  overlay(to.cwd, from.cwd);
  overlay(to.serialization, from.serialization);
  overlay(to.silent, from.silent);
  overlay(to.stdio, from.stdio);
  overlay(to.uid, from.uid);
  overlay(to.gid, from.gid);
  overlay(to.inspect_port, from.inspect_port);
  overlay(to.windows_hide, from.windows_hide);
  overlay(to.max_frame_bytes, from.max_frame_bytes);
  overlay(to.ipc_busy_poll_us, from.ipc_busy_poll_us);
  overlay(to.max_queued_bytes, from.max_queued_bytes);
  overlay(to.max_servers_per_worker, from.max_servers_per_worker);
  overlay(to.max_held_fds, from.max_held_fds);
  overlay(to.handoff_timeout_ms, from.handoff_timeout_ms);
  overlay(to.scheduler, from.scheduler);
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Node primary.js isUsingInspector: an --inspect* or --debug-port flag in execArgv or NODE_OPTIONS.
bool using_inspector(const std::vector<std::string>& exec_argv) {
  static const std::regex re("--inspect(?:-brk|-port)?|--debug-port");
  for (const auto& a : exec_argv) {
    if (std::regex_search(a, re)) return true;
  }
  const char* opts = std::getenv("NODE_OPTIONS");
  return opts && std::regex_search(opts, re);
}

void remove_worker(Worker& w) {
  auto& s = st();
  auto it = s.workers.find(w.id());
  if (it != s.workers.end() && it->second.get() == &w) {
    // Freed on a later tick: w may be the object whose callback is running now.
    uv::next_tick([keep = std::move(it->second)] {});
    s.workers.erase(it);
  }
  if (s.workers.empty()) {
    if (s.handles_open && s.handles_open()) {
      detail::report_error(std::system_error(make_error_code(errc::bad_handle),
                                             "Resource leak detected: shared handles outlive the last worker"));
    }
    s.intercom_disconnect.emit();
  }
}

// Lets go of w once it has both exited and disconnected, on a later tick.
void release_if_gone(Worker& w) {
  if (w.is_connected() || !w.is_dead()) return;
  auto it = st().live.find(w.id());
  if (it == st().live.end()) return;
  // A gone worker emits nothing more; dropping its listeners also breaks the cycles of listeners
  // that capture the worker's own shared_ptr (w->on(ev::message, [w] {...})).
  uv::next_tick([keep = std::move(it->second)] {
    keep->remove_all_listeners();
    if (auto& p = detail::WorkerAccess::process(*keep)) {
      p->remove_all_listeners();
      for (std::size_t i = 0; i < p->stdio_count(); ++i) {
        if (auto* s = p->stdio(i)) s->remove_all_listeners();
      }
    }
  });
  st().live.erase(it);
}

void remove_handles_for_worker(Worker& w) {
  if (st().remove_handles) st().remove_handles(w);
}

void on_online(Worker& w) {
  detail::WorkerAccess::state(w) = WorkerState::online;
  w.emit(ev::online);
  events().emit(ev::online, w);
}

void on_listening(Worker& w, const Message& m) {
  Address a;
  if (auto it = m.find("address"); it != m.end() && it->is_string()) a.address = it->get<std::string>();
  if (auto it = m.find("port"); it != m.end() && it->is_number_integer()) a.port = it->get<int>();
  if (auto it = m.find("addressType"); it != m.end()) {
    if (auto t = address_type_from_json(*it)) a.address_type = *t;
  }
  if (auto it = m.find("fd"); it != m.end() && it->is_number_integer()) a.fd = it->get<int>();
  detail::WorkerAccess::state(w) = WorkerState::listening;
  w.emit(ev::listening, static_cast<const Address&>(a));
  events().emit(ev::listening, w, static_cast<const Address&>(a));
}

void on_message(Worker& w, Message& m, Handle& h) {
  auto act = m.find("act");
  if (act == m.end()) return;  // e.g. {cmd:'NODE_CLUSTER', ack:-1}: Node ignores it
  if (!act->is_string()) {
    detail::emit_error(w, std::system_error(make_error_code(errc::bad_message), "NODE_CLUSTER act is not a string"));
    return;
  }
  const auto& name = act->get_ref<const std::string&>();
  if (name == wire::act::online) {
    // Only a boolean true counts (value() would throw on a field of another type).
    if (auto p = m.find(wire::pipelined_handles); p != m.end() && *p == true) {
      if (auto* t = detail::WorkerAccess::target(w)) t->set_pipelined_handles(true);
    }
    sched::note_online(w, m);
    on_online(w);
  } else if (name == wire::act::listening) {
    on_listening(w, m);
  } else if (name == wire::act::exited_after_disconnect) {
    detail::WorkerAccess::exited_after_disconnect(w) = true;
    internal::send(w, {{"ack", m.value("seq", Message())}});
  } else if (auto it = st().acts.find(name); it != st().acts.end()) {
    it->second(w, m, h);
  } else {
    detail::emit_error(w, std::system_error(make_error_code(errc::unknown_act),
                                            "unknown NODE_CLUSTER act '" + name.substr(0, 64) + "'"));
  }
}

std::unique_ptr<ChildProcess> create_worker_process(int id, const Env& env) {
  auto& s = st().settings;
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) vars[k] = v;
  // The channel's variables are ours alone, whatever this process's environment (our own
  // parent's channel) or env says; the spawn adds the channel's and the rings' descriptors.
  vars[wire::env_unique_id] = std::to_string(id);
  vars.erase(wire::env_channel_fd);
  vars.erase(wire::env_serialization);
  vars.erase(wire::env_busy_poll);
  vars.erase(wire::env_ring_fd);
  vars[wire::env_report_closes] = "1";  // C++ workers then report closes (scheduler/connection_stats.hpp)
  if (s.ipc_busy_poll_us.value_or(0)) vars[wire::env_busy_poll] = std::to_string(*s.ipc_busy_poll_us);

  std::vector<std::string> exec_argv = s.exec_argv.value_or(std::vector<std::string>{});
  if (using_inspector(exec_argv)) {
    int port;
    if (s.inspect_port) {
      port = std::holds_alternative<int>(*s.inspect_port)
                 ? std::get<int>(*s.inspect_port)
                 : std::get<std::function<int()>>(*s.inspect_port)();
    } else {
      port = 9229 + st().debug_port_offset;
      if (port > 65535) port = port - 65535 + 1024 - 1;
      st().debug_port_offset++;
    }
    if (port < 0 || port > 65535) {
      throw std::invalid_argument("inspect_port: Port should be >= 0 and < 65536 (ERR_SOCKET_BAD_PORT), got " +
                                  std::to_string(port));
    }
    exec_argv.push_back("--inspect-port=" + std::to_string(port));
  }

  SpawnOptions o;
  const std::string exec = s.exec.value_or(self_args().exe);
  const std::string exec_path = s.exec_path.value_or("");
  if (exec_path.empty()) {
    o.file = exec;
    o.args.push_back(exec);
    o.args.insert(o.args.end(), exec_argv.begin(), exec_argv.end());
  } else {
    o.file = exec_path;
    o.args.push_back(exec_path);
    o.args.insert(o.args.end(), exec_argv.begin(), exec_argv.end());
    o.args.push_back(exec);
  }
  const auto& args = s.args.value_or(std::vector<std::string>{});
  o.args.insert(o.args.end(), args.begin(), args.end());
  for (const auto& [k, v] : vars) o.env.push_back(k + "=" + v);
  o.cwd = s.cwd;
  if (s.stdio) {
    o.stdio = *s.stdio;
  } else if (s.silent.value_or(false)) {
    o.stdio = {Stdio::pipe(), Stdio::pipe(), Stdio::pipe(), Stdio::ipc()};
  } else {
    o.stdio = {Stdio::inherit(), Stdio::inherit(), Stdio::inherit(), Stdio::ipc()};
  }
  o.uid = s.uid;
  o.gid = s.gid;
  o.windows_hide = s.windows_hide.value_or(false);
  o.serialization = s.serialization.value_or(Serialization::json);
  o.max_frame = s.max_frame_bytes.value_or(default_max_frame_bytes);
  o.busy_poll_us = s.ipc_busy_poll_us.value_or(0);
  o.max_queued_bytes = s.max_queued_bytes.value_or(default_max_queued_bytes);
  o.max_held_fds = s.max_held_fds.value_or(default_max_held_fds);
  // Rings only when the worker is sure to be a cppcluster program: this very one.
  o.rings = exec_path.empty() && exec == self_args().exe;
  return detail::ChildProcessAccess::spawn(o);
}

}  // namespace

void setup_primary(const Settings& options) {
  detail::require_role(detail::Role::primary, "cluster::setup_primary()");
  auto& s = st();
  Settings next;
  next.args = self_args().args;
  next.exec = self_args().exe;
  next.exec_argv = std::vector<std::string>{};
  next.silent = false;
  merge(next, s.settings);
  merge(next, options);
  // Node: V8 profiles of each process go to their own file.
  auto& xa = *next.exec_argv;
  bool prof = false, logfile = false;
  for (const auto& a : xa) {
    prof = prof || starts_with(a, "--prof");
    logfile = logfile || starts_with(a, "--logfile=");
  }
  if (prof && !logfile) xa.push_back("--logfile=v8-%p.log");
  if (!s.initialized && !s.policy) s.policy = initial_policy();  // may throw: nothing changed yet
  if (next.ipc_busy_poll_us.value_or(0) > 1000000) {
    throw std::invalid_argument("ipc_busy_poll_us must be at most 1000000 (one second), got " +
                                std::to_string(*next.ipc_busy_poll_us));
  }
  s.settings = std::move(next);
  if (!s.initialized) {
    s.initialized = true;
    primary::install_server_sharing();
    if (!s.policy) s.policy = initial_policy();
    s.policy_frozen = true;
  }
  auto snapshot = std::make_shared<Settings>(s.settings);
  uv::next_tick([snapshot] { events().emit(ev::setup, static_cast<const Settings&>(*snapshot)); });
}

void setup_master(const Settings& s) { setup_primary(s); }

const Settings& settings() { return st().settings; }

int scheduling_policy() {
  auto& s = st();
  if (!s.policy) s.policy = initial_policy();
  return s.policy;
}

void set_scheduling_policy(int policy) {
  auto& s = st();
  if (policy != sched_rr && policy != sched_none && policy != sched_reuseport) {
    throw std::invalid_argument("scheduling policy must be sched_rr, sched_none or sched_reuseport");
  }
  if (s.policy_frozen) {
    throw std::logic_error("the scheduling policy is frozen by the first fork() or setup_primary()");
  }
  s.policy = policy;
}

std::shared_ptr<Worker> fork(const Env& env) {
  detail::require_role(detail::Role::primary, "cluster::fork()");
  setup_primary();
  auto& s = st();
  const int id = ++s.ids;
  auto proc = create_worker_process(id, env);
  auto worker = detail::WorkerAccess::make(id);
  Worker* w = worker.get();
  ChildProcess& cp = *proc;
  detail::WorkerAccess::target(*w) = detail::ChildProcessAccess::target(cp);
  detail::WorkerAccess::process(*w) = std::move(proc);

  // worker.js: the Worker re-emits its process's message and error events.
  cp.on(ev::error, [w](const std::system_error& e) { detail::emit_error(*w, e); });
  cp.on(ev::message, [w](const Message& m, Handle& h) { w->emit(ev::message, m, h); });
  // primary.js fork(): cluster 'message' runs before any user worker.on('message').
  w->on(ev::message, [w](const Message& m, Handle& h) { events().emit(ev::message, *w, m, h); });
  cp.once(ev::exit, [w](int code, std::string_view sig) {
    if (!w->is_connected()) {
      remove_handles_for_worker(*w);
      remove_worker(*w);
    }
    auto& ead = detail::WorkerAccess::exited_after_disconnect(*w);
    ead = ead.value_or(false);
    detail::WorkerAccess::state(*w) = WorkerState::dead;
    w->emit(ev::exit, code, sig);
    events().emit(ev::exit, *w, code, sig);
    release_if_gone(*w);
  });
  cp.once(ev::disconnect, [w] {
    remove_handles_for_worker(*w);
    internal::forget(*w);
    if (w->is_dead()) remove_worker(*w);
    auto& ead = detail::WorkerAccess::exited_after_disconnect(*w);
    ead = ead.value_or(false);
    detail::WorkerAccess::state(*w) = WorkerState::disconnected;
    w->emit(ev::disconnect);
    events().emit(ev::disconnect, *w);
    release_if_gone(*w);
  });
  detail::ChildProcessAccess::on_internal(cp, [w](Message&& m, Handle& h) {
    auto keep = w->shared_from_this();
    internal::dispatch(*w, m, h, on_message);
  });

  std::weak_ptr<Worker> weak = worker;
  uv::next_tick([weak] {
    if (auto w = weak.lock()) events().emit(ev::fork, *w);
  });
  s.workers[id] = worker;
  s.live[id] = worker;
  return worker;
}

std::map<int, std::shared_ptr<Worker>> workers() {
  detail::require_role(detail::Role::primary, "cluster::workers()");
  return st().workers;
}

void disconnect(std::function<void()> cb) {
  detail::require_role(detail::Role::primary, "cluster::disconnect()");
  auto& s = st();
  if (s.workers.empty()) {
    uv::next_tick([] { st().intercom_disconnect.emit(); });
  } else {
    for (auto& [id, w] : workers()) {
      if (w->is_connected()) w->disconnect();
    }
  }
  // Registered after the loop, as Node does: it runs at the next time the registry empties.
  if (cb) s.intercom_disconnect.add(++s.next_intercom_id, std::move(cb), true);
}

namespace primary {

void kill(Worker& w, int sig) {
  // Node 20 primary.js: worker.destroy/kill is process.kill(signal) and nothing more.
  if (auto& p = detail::WorkerAccess::process(w)) p->kill(sig);
}

void disconnect(Worker& w) {
  auto keep = w.shared_from_this();
  detail::WorkerAccess::exited_after_disconnect(w) = true;
  internal::send(w, {{"act", wire::act::disconnect}});
  remove_handles_for_worker(w);
  remove_worker(w);
}

void set_act_handler(const std::string& act, internal::ActHandler fn) { st().acts[act] = std::move(fn); }
void set_remove_handles(std::function<void(Worker&)> fn) { st().remove_handles = std::move(fn); }
void set_handles_open(std::function<bool()> fn) { st().handles_open = std::move(fn); }

}  // namespace primary
}  // namespace cluster
