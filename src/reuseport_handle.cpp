#include "reuseport_handle.hpp"

#include "scheduler/connection_stats.hpp"
#include "uv/tick.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace cluster {
namespace {

bool kernel_migrates_requests() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_migrate_req");
  int v = 0;
  return f >> v && v == 1;
}

// The voluntary context switches of pid's main thread (it blocked: waited for an event, slept,
// or was stopped), or nullopt when they cannot be read.
std::optional<std::uint64_t> voluntary_switches(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  constexpr std::string_view field = "voluntary_ctxt_switches:";
  while (std::getline(f, line)) {
    if (line.compare(0, field.size(), field) == 0) return std::strtoull(line.c_str() + field.size(), nullptr, 10);
  }
  return std::nullopt;
}

// Connections waiting in a listening socket's accept queue (Linux reports it as tcpi_unacked).
unsigned accept_queue_length(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_unacked;
}

}  // namespace

ReusePortHandle::ReusePortHandle(std::string key, net::detail::ServerSpec spec, RoundRobinHandle::Sender send,
                                 std::uint64_t check_ms, PidOf pid_of)
    : key_(std::move(key)), spec_(std::move(spec)),
      rescue_(std::make_shared<RoundRobinHandle>(key_, std::move(send))), check_ms_(check_ms),
      pid_of_(std::move(pid_of)), migrate_(kernel_migrates_requests()) {
  spec_.reuse_port = true;
  if (check_ms_ && uv_timer_init(uv::loop(), check_.get()) == 0) {
    check_.initialized();
    check_.get()->data = this;
    uv_timer_start(check_.get(), [](uv_timer_t* t) {
      uv::CallbackScope scope;
      if (auto* self = static_cast<ReusePortHandle*>(t->data)) self->check_stalls();
    }, check_ms_, check_ms_);
    uv_unref(check_.base());  // watching keeps nothing alive
  }
}

ReusePortHandle::~ReusePortHandle() { close_all(); }

void ReusePortHandle::close_all() {
  for (auto& [worker, fd] : sockets_) ::close(fd);
  sockets_.clear();
  stalled_.clear();
  for (auto& o : orphans_) {
    o->poll.close();
    ::close(o->fd);
  }
  orphans_.clear();
}

bool ReusePortHandle::set_keep_open(bool on) {
  keep_open_ = on;
  rescue_->set_keep_open(on);
  if (on || !sockets_.empty()) return false;
  close_all();
  return true;
}

void ReusePortHandle::serve_orphans(bool on) {
  for (auto& o : orphans_) {
    if (!o->poll.valid()) continue;
    if (on) {
      uv_poll_start(o->poll.get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
        uv::CallbackScope scope;
        auto* orphan = static_cast<Orphan*>(h->data);
        if (orphan && status == 0) orphan->owner->drain(orphan->fd);
      });
    } else {
      uv_poll_stop(o->poll.get());
    }
  }
}

int bind_reuseport_first(net::detail::ServerSpec& spec, bool udp) {
  // SO_REUSEPORT lets any socket of the same user join the group. A socket bound first without
  // it finds out whether somebody already uses the port (EADDRINUSE), and for port 0 picks the
  // port; it is closed again before the group binds.
  auto create = udp ? net::detail::create_udp_socket : net::detail::create_server_socket;
  spec.reuse_port = false;
  const int probe = create(spec);
  spec.reuse_port = true;
  if (probe < 0) return probe;
  if (auto a = net::detail::local_address(probe)) {
    spec.address = a->address;
    spec.port = a->port;
  }
  ::close(probe);
  return create(spec);
}

int ReusePortHandle::bind_first() { return bind_reuseport_first(spec_, false); }

int ReusePortHandle::add(int worker) {
  if (auto it = sockets_.find(worker); it != sockets_.end()) return it->second;
  int fd;
  if (!orphans_.empty()) {
    // A departed worker's socket, with whatever waits in it: the newcomer serves it from here.
    auto o = std::move(orphans_.back());
    orphans_.pop_back();
    o->poll.close();
    fd = o->fd;
    if (sockets_.empty()) serve_orphans(true);  // kept open while idle: the others' backlogs too
  } else {
    fd = sockets_.empty() ? bind_first() : net::detail::create_server_socket(spec_);
    if (fd < 0) return fd;
  }
  sockets_[worker] = fd;
  rescue_->add(worker, sched::totals_of(worker));  // rescued connections count as handed off
  return fd;
}

std::uint64_t ReusePortHandle::drain(int fd) {
  // Bounded in case connections keep arriving faster than they are taken.
  std::uint64_t n = 0;
  for (int i = 0; i < 1 << 16; ++i) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN: drained; EINVAL: never listened; EMFILE: the next poll or check retries
    }
    ++n;
    rescue_->distribute(c);  // closed at once when no worker is left
  }
  rescued_ += n;
  return n;
}

void ReusePortHandle::watch(int worker, int fd) {
  auto w = std::make_unique<Watch>();
  w->owner = this;
  w->fd = fd;
  if (uv_poll_init_socket(uv::loop(), w->poll.get(), fd) != 0 || uv_timer_init(uv::loop(), w->grace.get()) != 0) {
    return;  // unwatched: the checks still rescue its queue, only later
  }
  w->poll.initialized();
  w->grace.initialized();
  w->poll.get()->data = w.get();
  w->grace.get()->data = w.get();
  uv_unref(w->poll.base());
  uv_unref(w->grace.base());
  uv_poll_start(w->poll.get(), UV_READABLE, &ReusePortHandle::on_watched_readable);
  stalled_[worker] = std::move(w);
}

void ReusePortHandle::on_watched_readable(uv_poll_t* h, int status, int) {
  auto* self = static_cast<Watch*>(h->data);
  if (!self || status < 0) return;
  // Level-triggered: stop watching until the grace is over.
  uv_poll_stop(h);
  const std::uint64_t grace = std::max<std::uint64_t>(self->owner->check_ms_ / 100, 1);
  uv_timer_start(self->grace.get(), [](uv_timer_t* t) {
    uv::CallbackScope scope;
    if (auto* watch = static_cast<Watch*>(t->data)) watch->owner->take_after_grace(*watch);
  }, grace, 0);
}

void ReusePortHandle::take_after_grace(Watch& w) {
  // What the worker did not take itself within the grace goes to the others.
  w.taken += drain(w.fd);
  uv_poll_start(w.poll.get(), UV_READABLE, &ReusePortHandle::on_watched_readable);
}

void ReusePortHandle::adopt(int fd) {
  auto o = std::make_unique<Orphan>(Orphan{fd, {}, this});
  if (uv_poll_init_socket(uv::loop(), o->poll.get(), fd) == 0) {
    o->poll.initialized();
    o->poll.get()->data = o.get();
    uv_unref(o->poll.base());  // the workers keep the loop alive, not the primary's copies
  }
  orphans_.push_back(std::move(o));
  if (sockets_.empty()) return;  // kept open with nobody to hand to: the backlog waits
  serve_orphans(true);
  drain(fd);
}

bool ReusePortHandle::remove(int worker, RoundRobinHandle::Leaving how) {
  auto it = sockets_.find(worker);
  if (it == sockets_.end()) return false;
  const int fd = it->second;
  sockets_.erase(it);
  backlogged_.erase(worker);
  switches_.erase(worker);
  stalled_.erase(worker);
  rescue_->remove(worker, how);
  if (sockets_.empty() && !keep_open_) {
    // The server closes with its last worker, as under sched_rr: whatever waits is reset.
    ::close(fd);
    close_all();
    return true;
  }
  if (sockets_.empty()) {
    // Kept open: this socket and the others wait, unserved, for the next worker.
    serve_orphans(false);
    adopt(fd);
    return false;
  }
  if (migrate_) {
    drain(fd);
    ::close(fd);  // the kernel moves what arrives meanwhile to the group's other sockets
  } else {
    adopt(fd);
  }
  return false;
}

void ReusePortHandle::check_stalls() {
  // A worker that took nothing from a non-empty queue since the last check is stalled (or far
  // behind): its queue goes to the others, and it gets none of what is rescued.
  for (auto& [worker, fd] : sockets_) {
    const bool waiting = accept_queue_length(fd) > 0;
    const bool blocked = blocked_since_last_check(worker);
    bool& before = backlogged_[worker];
    if (auto s = stalled_.find(worker); s != stalled_.end()) {
      // Under watch: it accepts again once its queue stays empty with nothing taken for it, or
      // its thread waits for events again (under load, new connections keep the queue busy).
      if ((!waiting && s->second->taken == 0) || blocked) {
        stalled_.erase(s);
        rescue_->set_paused(worker, false);
      } else {
        s->second->taken = 0;
        drain(fd);
      }
    } else if (waiting && before && !blocked) {
      rescue_->set_paused(worker, true);
      drain(fd);
      watch(worker, fd);
    }
    before = waiting;
  }
  for (auto& o : orphans_) drain(o->fd);  // in case accepting failed (EMFILE) at its wake-up
}

bool ReusePortHandle::blocked_since_last_check(int worker) {
  if (!pid_of_) return false;
  const int pid = pid_of_(worker);
  const auto now = pid > 0 ? voluntary_switches(pid) : std::nullopt;
  if (!now) return false;
  auto [it, first] = switches_.try_emplace(worker, *now);
  const bool blocked = !first && *now > it->second;
  it->second = *now;
  return blocked;
}

}  // namespace cluster
