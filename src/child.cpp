// lib/internal/cluster/child.js: the worker's side of the NODE_CLUSTER protocol.
#include "child.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "ipc/ring.hpp"
#include "pool/pool_wire.hpp"
#include "scheduler/connection_stats.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace cluster::child {
namespace {

struct ChildState {
  bool set_up = false;
  std::shared_ptr<Worker> worker;
  std::unique_ptr<ipc::Target> target;
  std::map<std::string, ServerHandle> handles;
  std::map<std::string, internal::ActHandler> acts;
};

ChildState& st() {
  static ChildState* s = new ChildState();  // lives as long as the process
  return *s;
}

void exit_now() {
  // Node's process.exit(0) on an unexpected disconnect: exit handlers and stdio flushing run.
  std::exit(0);
}

// Node child.js _disconnect(): close every server, wait for each, then leave.
void close_servers_then(bool primary_initiated) {
  auto& s = st();
  Worker& w = *s.worker;
  detail::WorkerAccess::exited_after_disconnect(w) = true;
  auto waiting = std::make_shared<int>(1);
  auto check = [waiting, primary_initiated] {
    if (--*waiting != 0) return;
    auto& s = st();
    if (!s.target) return;
    if (primary_initiated) {
      s.target->disconnect();
    } else {
      internal::send(*s.worker, {{"act", wire::act::exited_after_disconnect}}, {},
                     [](Worker&, Message&, Handle&) {
                       if (st().target) st().target->disconnect();
                     });
    }
  };
  auto handles = std::move(s.handles);
  s.handles.clear();
  for (auto& [key, h] : handles) {
    ++*waiting;
    h.close(check);
  }
  check();
}

void on_message(Worker& w, Message& m, Handle& h) {
  auto act = m.find("act");
  if (act == m.end() || !act->is_string()) return;
  const auto& name = act->get_ref<const std::string&>();
  if (name == wire::act::disconnect) {
    close_servers_then(true);
  } else if (name == pool_wire::heartbeat_act) {
    // A pool's ping, answered from this loop: a worker whose loop is blocked stays silent.
    internal::send(w, {{"act", pool_wire::heartbeat_act}});
  } else if (auto it = st().acts.find(name); it != st().acts.end()) {
    it->second(w, m, h);
  } else {
    detail::emit_error(w, std::system_error(make_error_code(errc::unknown_act),
                                            "unknown NODE_CLUSTER act '" + name.substr(0, 64) + "'"));
  }
}

}  // namespace

void setup_worker() {
  auto& s = st();
  if (s.set_up) return;
  s.set_up = true;
  (void)detail::role();  // decided while NODE_UNIQUE_ID is still in the environment
  const char* id_env = std::getenv(wire::env_unique_id);
  int id = id_env ? std::atoi(id_env) : 0;
  s.worker = detail::WorkerAccess::make(id);
  Worker& w = *s.worker;
  detail::WorkerAccess::state(w) = WorkerState::online;

  const char* fd_env = std::getenv(wire::env_channel_fd);
  const char* mode_env = std::getenv(wire::env_serialization);
  int fd = fd_env ? std::atoi(fd_env) : -1;
  const char* spin_env = std::getenv(wire::env_busy_poll);
  const long spin_us = spin_env ? std::strtol(spin_env, nullptr, 10) : 0;
  unsetenv(wire::env_busy_poll);
  const char* heartbeat_env = std::getenv(pool_wire::env_heartbeat);
  const bool announce_heartbeat = heartbeat_env && std::string(heartbeat_env) == "1";
  unsetenv(pool_wire::env_heartbeat);
  const char* ring_env = std::getenv(wire::env_ring_fd);
  const int ring_fd = ring_env ? std::atoi(ring_env) : -1;
  unsetenv(wire::env_ring_fd);
  const bool report_closes = read_report_closes_env();
  Serialization mode = (mode_env && std::string(mode_env) == "advanced") ? Serialization::advanced
                                                                          : Serialization::json;
  // Node deletes these before user code runs (pre_execution.js, initializeClusterIPC).
  unsetenv(wire::env_channel_fd);
  unsetenv(wire::env_serialization);
  unsetenv(wire::env_unique_id);
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) return;

  s.target = std::make_unique<ipc::Target>(fd, mode, default_max_frame_bytes);
  detail::WorkerAccess::target(w) = s.target.get();
  if (spin_us > 0 && spin_us <= 1000000) s.target->channel().set_busy_poll(static_cast<unsigned>(spin_us));
  if (ring_fd >= 0) {
    // The primary writes its frames to the rings from the start: without them nothing it sends
    // could be read, so a worker that cannot map them stops here, saying why.
    auto rings = ipc::RingPair::attach(ring_fd);
    if (!rings) {
      std::fprintf(stderr, "cppcluster worker: cannot map the IPC rings (%s=%d): %s\n", wire::env_ring_fd, ring_fd,
                   std::strerror(errno));
      std::_Exit(1);
    }
    rings->close_fd();
    s.target->channel().use_rings(std::move(rings), false);
  }
  Worker* wp = &w;
  s.target->start({
      [wp](Message&& m, Handle& h) {
        // A pool's "you are retiring" word is an event here; a Node worker sees a plain message.
        if (pool_wire::is_retiring(m)) return wp->emit(ev::retiring);
        wp->emit(ev::message, static_cast<const Message&>(m), h);
      },
      [wp](Message&& m, Handle& h) { internal::dispatch(*wp, m, h, on_message); },
      [wp] {
        wp->emit(ev::disconnect);
        if (!wp->exited_after_disconnect().value_or(false)) exit_now();
      },
      [wp](const std::system_error& e) { detail::emit_error(*wp, e); },
  });
  // Beyond Node: a cppcluster primary may then pipeline handles to us (a Node primary ignores it).
  // A cppcluster primary (and only one: it set CPPCLUSTER_REPORT_CLOSES) hears of closed connections.
  Message online = {{"act", wire::act::online}, {wire::pipelined_handles, true}};
  if (report_closes) online[wire::reports_closes] = true;
  internal::send(w, std::move(online));
  // Beyond Node: a pool that pings asked us to say we answer, before any user code can block.
  if (announce_heartbeat) internal::send(w, {{"act", pool_wire::heartbeat_act}});
}

Worker& current() { return *st().worker; }

void destroy(Worker& w) {
  if (w.state() == WorkerState::destroying) return;
  detail::WorkerAccess::exited_after_disconnect(w) = true;
  if (!w.is_connected()) exit_now();
  detail::WorkerAccess::state(w) = WorkerState::destroying;
  internal::send(w, {{"act", wire::act::exited_after_disconnect}}, {}, [](Worker&, Message&, Handle&) {
    if (st().target) st().target->disconnect();
  });
  w.once(ev::disconnect, [] { exit_now(); });
}

void disconnect(Worker& w) {
  if (w.state() == WorkerState::disconnecting || w.state() == WorkerState::destroying) return;
  detail::WorkerAccess::state(w) = WorkerState::disconnecting;
  close_servers_then(false);
}

void process_disconnect() {
  auto& s = st();
  if (!s.target) {
    detail::emit_error(*s.worker, std::system_error(make_error_code(errc::channel_closed), "process.disconnect"));
    return;
  }
  s.target->disconnect();
}

void add_handle(const std::string& key, ServerHandle h) { st().handles[key] = std::move(h); }
void remove_handle(const std::string& key) { st().handles.erase(key); }
void set_act_handler(const std::string& act, internal::ActHandler fn) { st().acts[act] = std::move(fn); }

}  // namespace cluster::child
