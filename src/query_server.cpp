#include "query_server.hpp"

#include "cluster/cluster.hpp"
#include "detail.hpp"
#include "internal_message.hpp"
#include "ipc/handle_wire.hpp"
#include "net/js_string.hpp"
#include "net/sockaddr.hpp"
#include "primary.hpp"
#include "round_robin_handle.hpp"
#include "scheduler/connection_stats.hpp"
#include "reuseport_handle.hpp"
#include "reuseport_udp_handle.hpp"
#include "shared_handle.hpp"
#include "wire.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace cluster::primary {
namespace {

struct Entry {
  std::shared_ptr<RoundRobinHandle> rr;
  std::unique_ptr<SharedHandle> shared;
  std::unique_ptr<ReusePortHandle> reuse;
  std::unique_ptr<ReusePortUdpHandle> reuse_udp;
  int err = 0;       // RoundRobinHandle: the bind/listen failure
  Message sockname;  // RoundRobinHandle over TCP: getsockname() of the listening socket
  Message data;      // the first truthy data a worker sent (TLS ticket keys in Node)
};

struct State {
  bool installed = false;
  std::map<std::string, Entry> handles;
  std::unordered_map<int, std::weak_ptr<Worker>> workers;
  std::unordered_map<int, std::set<std::string>> servers_of;  // the keys each worker shares
  int holds = 0;  // hold_servers() handles alive: servers stay open without workers
};

bool keep_open(Entry& e, bool on);  // below, with remove_worker

State& st() {
  static State* s = new State();  // lives as long as the process
  return *s;
}

bool truthy(const Message& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<long long>() != 0;
  if (v.is_number_float()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return true;
}

int int_field(const Message& m, const char* f, int fallback) {
  auto it = m.find(f);
  return it != m.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

net::detail::ServerSpec spec_from(const Message& m) {
  net::detail::ServerSpec s;
  if (auto a = m.find("address"); a != m.end() && a->is_string()) s.address = a->get<std::string>();
  s.port = int_field(m, "port", 0);
  auto type = m.find("addressType");
  s.address_type = type != m.end() && type->is_number_integer() ? type->get<int>() : 4;
  s.udp6 = type != m.end() && *type == "udp6";
  if (auto fd = m.find("fd"); fd != m.end() && fd->is_number_integer() && fd->get<int>() >= 0) s.fd = fd->get<int>();
  s.flags = static_cast<unsigned>(int_field(m, "flags", 0));
  s.backlog = int_field(m, "backlog", 0);
  if (s.backlog <= 0) s.backlog = 511;
  // Truthy, as Node tests them; value() would throw on a field of another type.
  auto flag = [&m](const char* f) { auto it = m.find(f); return it != m.end() && truthy(*it); };
  s.readable_all = flag("readableAll");
  s.writable_all = flag("writableAll");
  // primary.js: the shorter of the absolute path and the one relative to the cwd (sun_path is
  // about 100 bytes).
  if (s.port < 0 && s.address) {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
      std::string prefix = std::string(cwd) + "/";
      if (s.address->rfind(prefix, 0) == 0 && s.address->size() > prefix.size()) {
        s.address = s.address->substr(prefix.size());
      }
    }
  }
  return s;
}

bool send_newconn(const std::string& key, int worker, int fd, RoundRobinHandle::Delivery d) {
  auto it = st().workers.find(worker);
  if (it == st().workers.end()) return false;
  auto w = it->second.lock();
  if (!w || !w->is_connected()) return false;
  // Built once, in wire order; internal::send adds seq and the frame takes it over.
  Message m = {{"cmd", wire::node_cluster}, {"act", wire::act::newconn}, {"key", key}};
  internal::send(
      *w, std::move(m), Handle::borrow(fd, HandleType::net_native),
      [answered = std::move(d.answered)](Worker&, Message& reply, Handle&) {
        auto a = reply.find("accepted");
        answered(a != reply.end() && truthy(*a));
      },
      [written = std::move(d.written)](std::error_code ec) { written(!ec); });
  return true;
}

RoundRobinHandle::Sender newconn_sender(const std::string& key) {
  return [key](int worker, int fd, RoundRobinHandle::Delivery d) { return send_newconn(key, worker, fd, std::move(d)); };
}

// How w leaves the servers it shares (see RoundRobinHandle::Leaving).
RoundRobinHandle::Leaving leaving(Worker& w) {
  using L = RoundRobinHandle::Leaving;
  if (w.is_connected()) return L::answering;
  if (w.is_dead()) return L::unreachable;
  // The primary closed the channel itself: the worker may still read what was written to it.
  ipc::Target* t = detail::WorkerAccess::target(w);
  return t && !t->peer_closed() ? L::cut_off : L::unreachable;
}

void create_round_robin(Entry& e, const std::string& key, const Message& m) {
  auto spec = spec_from(m);
  e.rr = std::make_shared<RoundRobinHandle>(key, newconn_sender(key), RoundRobinHandle::default_window,
                                            settings().handoff_timeout_ms.value_or(default_handoff_timeout_ms));
  int fd = net::detail::create_server_socket(spec);
  if (fd < 0) {
    e.err = fd;
    return;
  }
  const bool bound_path = !spec.fd && spec.port == -1 && spec.address_type == -1;
  int err = net::detail::listen_socket(fd, spec);
  if (!err) {
    e.sockname = net::detail::sockname_json(fd);
    err = e.rr->start(fd);  // the handle owns fd from here
  } else {
    ::close(fd);
  }
  if (err) {
    e.err = err;
    if (bound_path) ::unlink(spec.address->c_str());
    return;
  }
  if (bound_path) e.rr->set_unlink_path(*spec.address);
  if (const auto& sched = settings().scheduler) {
    const int port = e.sockname.is_object() ? e.sockname.value("port", spec.port) : spec.port;
    e.rr->set_scheduler(*sched, spec.address.value_or(""), port);
  }
}

// The listening socket for a queryServer reply, as a copy the library closes once it is written:
// the handle may close its own (the worker leaves) while the reply still waits in a write queue.
// Returns 0 or a negative libuv error (out of descriptors).
int reply_copy(int fd, HandleType type, Handle& out) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -errno;
  out = Handle::adopt(copy, type);
  return 0;
}

// Counts key among the servers w shares; past max_servers_per_worker, w gets an error and is cut
// off (each server holds a socket, a handle and its queue in the primary).
bool within_server_bound(Worker& w, const std::string& key) {
  auto& keys = st().servers_of[w.id()];
  if (keys.count(key)) return true;
  const std::size_t max = settings().max_servers_per_worker.value_or(default_max_servers_per_worker);
  if (max && keys.size() >= max) {
    detail::emit_error(w, std::system_error(make_error_code(errc::limit_exceeded),
                                            "worker asked to share more than " + std::to_string(max) + " servers"));
    if (auto* t = detail::WorkerAccess::target(w)) t->destroy();
    return false;
  }
  keys.insert(key);
  return true;
}

void query_server(Worker& w, Message& m, Handle&) {
  // primary.js: stop processing if the worker is already disconnecting.
  if (w.exited_after_disconnect().value_or(false)) return;
  using net::detail::js_field;
  const std::string key = js_field(m, "address") + ":" + js_field(m, "port") + ":" + js_field(m, "addressType") +
                          ":" + js_field(m, "fd") + ":" + js_field(m, "index");
  auto& s = st();
  if (!within_server_bound(w, key)) return;
  s.workers[w.id()] = w.weak_from_this();
  auto it = s.handles.find(key);
  if (it != s.handles.end() && it->second.rr && it->second.rr->closed()) {
    s.handles.erase(it);
    it = s.handles.end();
  }
  if (it == s.handles.end()) {
    it = s.handles.emplace(key, Entry{}).first;
    auto type = m.find("addressType");
    const bool udp = type != m.end() && (*type == "udp4" || *type == "udp6");
    // UDP is connectionless: there is nothing to hand out, so it is shared (Node), or under
    // sched_reuseport one socket a worker (not for bind({fd}), which names one socket).
    auto spec = spec_from(m);
    const bool tcp = !udp && !spec.fd && spec.port != -1;
    if (scheduling_policy() == sched_reuseport && udp && !spec.fd) {
      it->second.reuse_udp = std::make_unique<ReusePortUdpHandle>(spec);
    } else if (scheduling_policy() == sched_none || udp) {
      it->second.shared = std::make_unique<SharedHandle>(key, spec, udp);
    } else if (scheduling_policy() == sched_reuseport && tcp) {
      const unsigned deadline = settings().handoff_timeout_ms.value_or(default_handoff_timeout_ms);
      auto pid_of = [](int worker) {
        auto w = st().workers.find(worker);
        auto live = w != st().workers.end() ? w->second.lock() : nullptr;
        return live ? live->process().pid() : -1;
      };
      it->second.reuse = std::make_unique<ReusePortHandle>(key, spec, newconn_sender(key), deadline / 2, pid_of);
    } else {
      create_round_robin(it->second, key, m);
    }
  }
  Entry& e = it->second;
  if (s.holds > 0) keep_open(e, true);
  if (!truthy(e.data)) e.data = m.value("data", Message());
  const Message seq = m.value("seq", Message());
  const Message data = e.data;

  if (e.shared) {
    e.shared->add(w.id());
    int err = e.shared->error();
    Handle h;
    if (!err) err = reply_copy(e.shared->fd(), e.shared->udp() ? HandleType::dgram_native : HandleType::net_native, h);
    if (err) {
      s.handles.erase(it);  // gives other workers a chance to retry
      s.servers_of[w.id()].erase(key);
    }
    internal::send(w, {{"errno", err}, {"key", key}, {"ack", seq}, {"data", data}}, std::move(h));
    return;
  }
  if (e.reuse || e.reuse_udp) {
    const int fd = e.reuse ? e.reuse->add(w.id()) : e.reuse_udp->add(w.id());
    Handle h;
    const int err = fd < 0 ? fd : reply_copy(fd, e.reuse ? HandleType::net_native : HandleType::dgram_native, h);
    if (err) s.servers_of[w.id()].erase(key);
    if (err && (e.reuse ? e.reuse->empty() : e.reuse_udp->empty())) s.handles.erase(it);
    internal::send(w, {{"errno", err}, {"key", key}, {"ack", seq}, {"data", data}}, std::move(h));
    return;
  }
  if (e.err) {
    const int err = e.err;
    s.handles.erase(it);
    s.servers_of[w.id()].erase(key);
    internal::send(w, {{"errno", err}, {"key", key}, {"ack", seq}, {"data", data}});
    return;
  }
  Message reply = {{"errno", nullptr}, {"key", key}, {"ack", seq}, {"data", data}};
  if (e.sockname.is_object()) reply["sockname"] = e.sockname;
  auto rr = e.rr;
  internal::send(w, reply);
  rr->add(w.id(), sched::totals_of(w.id()));  // after the reply: a queued connection follows it
}

// Keeps the entry's handle open without workers, or stops; true when that closed it.
bool keep_open(Entry& e, bool on) {
  if (e.rr) return e.rr->set_keep_open(on);
  if (e.reuse) return e.reuse->set_keep_open(on);
  if (e.reuse_udp) return e.reuse_udp->set_keep_open(on);
  if (e.shared) return e.shared->set_keep_open(on);
  return false;
}

// The worker leaves the handle; true when it was the last one.
bool remove_worker(Entry& e, int worker, RoundRobinHandle::Leaving how) {
  if (e.rr) return e.rr->remove(worker, how);
  if (e.reuse) return e.reuse->remove(worker, how);
  if (e.reuse_udp) return e.reuse_udp->remove(worker);
  return e.shared->remove(worker);
}

// A server in the worker is closing. The handle may be gone already (removeHandlesForWorker).
void close(Worker& w, Message& m, Handle&) {
  auto k = m.find("key");
  if (k == m.end() || !k->is_string()) return;
  auto& handles = st().handles;
  if (auto keys = st().servers_of.find(w.id()); keys != st().servers_of.end()) keys->second.erase(k->get<std::string>());
  auto it = handles.find(k->get<std::string>());
  if (it == handles.end()) return;
  if (remove_worker(it->second, w.id(), leaving(w))) handles.erase(it);
}

// Runs at the worker's 'disconnect', at its 'exit' after that, and at worker.disconnect().
void remove_handles_for_worker(Worker& w) {
  const auto how = leaving(w);
  auto& handles = st().handles;
  for (auto it = handles.begin(); it != handles.end();) {
    it = remove_worker(it->second, w.id(), how) ? handles.erase(it) : std::next(it);
  }
  st().servers_of.erase(w.id());
  if (!w.is_connected()) {
    st().workers.erase(w.id());
    sched::forget_totals(w.id());
  }
}

// Connections sent to the worker and not yet answered, over every round-robin server.
std::uint64_t in_flight_of(int worker) {
  std::uint64_t n = 0;
  for (const auto& [key, e] : st().handles) {
    if (e.rr) n += e.rr->in_flight_of(worker);
  }
  return n;
}

}  // namespace

void install_server_sharing() {
  auto& s = st();
  if (s.installed) return;
  s.installed = true;
  set_act_handler(wire::act::query_server, query_server);
  set_act_handler(wire::act::close, close);
  sched::install_close_reports(in_flight_of);
  set_remove_handles(remove_handles_for_worker);
  set_handles_open([] { return !st().handles.empty() && st().holds == 0; });
}

}  // namespace cluster::primary

namespace cluster {

std::shared_ptr<void> hold_servers() {
  detail::require_role(detail::Role::primary, "cluster::hold_servers()");
  auto& s = primary::st();
  if (s.holds++ == 0) {
    for (auto& [key, e] : s.handles) primary::keep_open(e, true);
  }
  return std::shared_ptr<void>(nullptr, [](void*) {
    auto& s = primary::st();
    if (--s.holds > 0) return;
    // The servers no worker shares close now, as they would have with their last worker.
    for (auto it = s.handles.begin(); it != s.handles.end();) {
      it = primary::keep_open(it->second, false) ? s.handles.erase(it) : std::next(it);
    }
  });
}

}  // namespace cluster
