#include "round_robin_handle.hpp"
#include "uv/tick.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cluster {

RoundRobinHandle::RoundRobinHandle(std::string key, Sender send, std::size_t window, std::uint64_t timeout_ms)
    : key_(std::move(key)), send_(std::move(send)), window_(std::max<std::size_t>(window, 1)), timeout_ms_(timeout_ms) {}

RoundRobinHandle::~RoundRobinHandle() {
  // No write queue holds a descriptor of ours any more: each pending write keeps the handle alive.
  close_all();
  for (auto& [worker, m] : members_) {
    for (const Flight& f : m.in_flight) ::close(f.fd);
  }
  for (const Sending& s : sending_) {
    if (s.release) ::close(s.fd);
  }
}

int RoundRobinHandle::start(int listen_fd) {
  listen_fd_ = listen_fd;
  poll_.emplace();
  int err = uv_poll_init_socket(uv::loop(), poll_->get(), listen_fd_);
  if (err) {
    poll_.reset();
    return err;
  }
  poll_->initialized();
  poll_->get()->data = this;
  return start_polling();
}

int RoundRobinHandle::start_polling() {
  return uv_poll_start(poll_->get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
    uv::CallbackScope scope;
    auto* self = static_cast<RoundRobinHandle*>(h->data);
    // Node ignores accept errors (test-cluster-accept-fail).
    if (self && status == 0) self->accept_all();
  });
}

void RoundRobinHandle::pause_accepting() {
  ++accept_pauses_;
  accept_paused_ = true;
  warn_out_of_descriptors();
  uv_poll_stop(poll_->get());
  if (!retry_) {
    retry_.emplace();
    if (uv_timer_init(uv::loop(), retry_->get()) != 0) {
      retry_.reset();
      start_polling();  // no timer: keep polling (the loop spins, but nothing is lost)
      return;
    }
    retry_->initialized();
    retry_->get()->data = this;
  }
  uv_timer_start(retry_->get(), [](uv_timer_t* t) {
    uv::CallbackScope scope;
    auto* self = static_cast<RoundRobinHandle*>(t->data);
    if (self) self->resume_accepting();
  }, retry_ms_, 0);
}

void RoundRobinHandle::resume_accepting() {
  // The timer covers descriptors freed elsewhere in the process; one this handle frees resumes
  // at once, so out of descriptors the hand-off runs at the rate connections are answered.
  if (!accept_paused_ || closed_ || !poll_) return;
  accept_paused_ = false;
  if (retry_) uv_timer_stop(retry_->get());
  start_polling();
}

void RoundRobinHandle::remember_peer(int fd, const sockaddr_storage& peer, socklen_t len) {
  if (static_cast<std::size_t>(fd) >= peers_.size()) peers_.resize(static_cast<std::size_t>(fd) + 64);
  Peer& p = peers_[static_cast<std::size_t>(fd)];
  p.len = std::min<socklen_t>(len, sizeof p.addr);
  std::memcpy(&p.addr, &peer, p.len);
}

void RoundRobinHandle::close_fd(int fd) {
  // The number may name another socket next: its remembered address no longer applies.
  if (static_cast<std::size_t>(fd) < peers_.size()) peers_[static_cast<std::size_t>(fd)].len = 0;
  ::close(fd);
  if (accept_paused_) resume_accepting();
}

void RoundRobinHandle::warn_out_of_descriptors() {
  // One line, at most every warn_interval_ms: the cause, what happens meanwhile, the remedy.
  const std::uint64_t now = uv_now(uv::loop());
  ++unreported_pauses_;
  if (warned_at_ && now - warned_at_ < warn_interval_ms) return;
  warned_at_ = now ? now : 1;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  std::fprintf(stderr,
               "cppcluster: out of file descriptors accepting on %s (%llu times since the last report): new "
               "connections wait in the backlog until a descriptor is free; raise the limit (ulimit -n, now %llu)\n",
               key_.c_str(), static_cast<unsigned long long>(unreported_pauses_),
               static_cast<unsigned long long>(lim.rlim_cur));
  unreported_pauses_ = 0;
}

void RoundRobinHandle::accept_all() {
  auto keep = shared_from_this();
  // Accept while the backlog has connections: one wake-up serves a burst.
  // A scheduler that wants the client's address gets it from accept4, free, instead of a
  // getpeername() a connection.
  const bool want_peer = sched_ && sched_->needs() == Scheduler::Needs::peer_address;
  while (!closed_) {
    sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, want_peer ? reinterpret_cast<sockaddr*>(&peer) : nullptr, want_peer ? &len : nullptr,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause_accepting();
      break;  // EAGAIN: drained
    }
    if (closed_) {
      ::close(fd);
      break;
    }
    if (want_peer) remember_peer(fd, peer, len);
    queue_.push_back(fd);
  }
  hand_out();
}

bool RoundRobinHandle::has(int worker) const {
  auto it = members_.find(worker);
  return it != members_.end() && it->second.joined;
}

std::size_t RoundRobinHandle::in_flight() const noexcept {
  std::size_t n = 0;
  for (const auto& [worker, m] : members_) n += m.in_flight.size();
  return n;
}

std::size_t RoundRobinHandle::in_flight_of(int worker) const noexcept {
  auto it = members_.find(worker);
  return it == members_.end() ? 0 : it->second.in_flight.size();
}

void RoundRobinHandle::set_scheduler(Scheduler s, std::string address, int port) {
  if (s.kind() == Scheduler::Kind::fair) {
    sched_.reset();
  } else {
    sched_.emplace(std::move(s));
  }
  sched_address_ = std::move(address);
  sched_port_ = port;
}

void RoundRobinHandle::add(int worker, std::shared_ptr<sched::WorkerTotals> totals) {
  if (closed_) return;
  // A newcomer starts level with the least-served worker, not at zero: otherwise it would get
  // every connection until it caught up with workers that have served for hours.
  std::uint64_t level = 0;
  bool any = false;
  for (const auto& [id, m] : members_) {
    if (!m.joined) continue;
    level = any ? std::min(level, m.offered) : m.offered;
    any = true;
  }
  const bool was_idle = !any;
  Member& m = members_[worker];
  m.joined = true;
  if (totals) m.totals = std::move(totals);
  m.offered = std::max(m.offered, level);
  m.last = ++clock_;  // ties go to the earlier joiner, as Node's free list
  if (was_idle && poll_ && !accept_paused_) start_polling();  // a kept-open handle accepts again
  hand_out();
}

void RoundRobinHandle::set_paused(int worker, bool paused) {
  auto it = members_.find(worker);
  if (it == members_.end() || it->second.paused == paused) return;
  it->second.paused = paused;
  if (paused) stop_waiting(it->second);  // a paused worker is no candidate: they are picked again
  hand_out();
}

void RoundRobinHandle::distribute(int fd) {
  if (closed_) {
    ::close(fd);
    return;
  }
  queue_.push_back(fd);
  hand_out();
}

bool RoundRobinHandle::overdue(const Member& m, std::uint64_t now) const {
  return timeout_ms_ && !m.in_flight.empty() && now - m.in_flight.front().offered_at >= timeout_ms_;
}

RoundRobinHandle::MemberIt RoundRobinHandle::pick() {
  // Paused workers are candidates only when nobody else is: a connection is better offered to a
  // worker suspected of stalling than held here for nobody.
  auto best = pick(false);
  return best != members_.end() ? best : pick(true);
}

RoundRobinHandle::MemberIt RoundRobinHandle::pick(bool paused_too) {
  auto best = members_.end();
  const std::uint64_t now = timeout_ms_ ? uv_now(uv::loop()) : 0;
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    const Member& m = it->second;
    if (!m.joined || (m.paused && !paused_too) || m.in_flight.size() >= window_) continue;
    if (timeout_ms_ && !m.in_flight.empty() && now - m.in_flight.front().offered_at >= timeout_ms_) {
      ++overdue_skips_;  // stalled (or very slow): no more until it answers
      continue;
    }
    if (best == members_.end() || m.offered < best->second.offered ||
        (m.offered == best->second.offered && m.last < best->second.last)) {
      best = it;
    }
  }
  return best;
}

void RoundRobinHandle::hand_out() {
  if (handing_out_) return;  // a sender failing re-enters through remove()
  handing_out_ = true;
  auto keep = shared_from_this();
  while (!closed_) {
    MemberIt chosen;
    int fd;
    if (sched_) {
      if (!next_scheduled(fd, chosen)) break;
    } else {
      if (queue_.empty()) break;
      chosen = pick();
      if (chosen == members_.end()) break;
      fd = queue_.front();
      queue_.pop_front();
    }
    const int worker = chosen->first;
    Member& m = chosen->second;
    m.in_flight.push_back({fd, timeout_ms_ ? uv_now(uv::loop()) : 0});
    ++m.offered;
    m.last = ++clock_;
    auto s = std::find_if(sending_.begin(), sending_.end(), [fd](const Sending& x) { return x.fd == fd; });
    if (s == sending_.end()) s = sending_.insert(sending_.end(), {fd});
    ++s->writes;
    Delivery d;
    // Strong: the handle (and so fd) outlives every write queue holding fd.
    d.written = [self = shared_from_this(), worker, fd](bool ok) { self->on_written(worker, fd, ok); };
    d.answered = [weak = weak_from_this(), worker, fd](bool accepted) {
      if (auto self = weak.lock()) self->on_reply(worker, fd, accepted);
    };
    if (send_(worker, fd, std::move(d))) continue;
    // Not sent: the worker's channel is closing. This connection goes to someone else.
    s = std::find_if(sending_.begin(), sending_.end(), [fd](const Sending& x) { return x.fd == fd; });
    if (--s->writes == 0) sending_.erase(s);
    chosen->second.in_flight.pop_back();
    queue_.push_front(fd);
    unreachable(worker);
  }
  handing_out_ = false;
}

bool RoundRobinHandle::next_scheduled(int& fd, MemberIt& chosen) {
  const std::uint64_t now = uv_now(uv::loop());
  // Connections waiting for a worker go first (they were accepted earlier): to it once it has
  // room, or to the fair choice once it stalls or the bound passes.
  if (waiting_) {
    for (auto it = members_.begin(); it != members_.end(); ++it) {
      Member& m = it->second;
      while (!m.waiting.empty() && (overdue(m, now) || now - m.waiting.front().offered_at >= wait_bound_ms())) {
        fair_queue_.push_back(m.waiting.front().fd);
        m.waiting.pop_front();
        --waiting_;
        ++fallbacks_;
      }
      if (!m.waiting.empty() && m.in_flight.size() < window_) {
        fd = m.waiting.front().fd;
        m.waiting.pop_front();
        --waiting_;
        chosen = it;
        return true;
      }
    }
  }
  if (!fair_queue_.empty()) {
    chosen = pick();
    if (chosen == members_.end()) return false;  // nobody has room: the rest must wait too
    fd = fair_queue_.front();
    fair_queue_.pop_front();
    return true;
  }
  while (!queue_.empty()) {
    fd = queue_.front();
    auto it = ask_scheduler(fd, now);
    if (it == members_.end()) {
      chosen = pick();
      if (chosen == members_.end()) return false;
      queue_.pop_front();
      return true;
    }
    queue_.pop_front();
    Member& m = it->second;
    if (m.in_flight.size() < window_) {
      chosen = it;
      return true;
    }
    // Busy, not stalled: this connection waits for it (the next one may go elsewhere).
    m.waiting.push_back({fd, now});
    ++waiting_;
    ++waits_;
    arm_wait_timer();
  }
  return false;
}

RoundRobinHandle::MemberIt RoundRobinHandle::ask_scheduler(int fd, std::uint64_t now) {
  candidates_.clear();
  for (const auto& [id, m] : members_) {
    if (!m.joined || m.paused) continue;
    Candidate c;
    c.id = id;
    c.offered = m.offered;
    c.in_flight = static_cast<std::uint32_t>(m.in_flight.size());
    c.open = m.totals ? m.totals->open() : -1;
    c.last_offer = m.last;
    c.ready = m.in_flight.size() < window_ && !overdue(m, now);
    candidates_.push_back(c);
  }
  if (candidates_.empty()) return members_.end();
  const sockaddr* peer = nullptr;
  socklen_t len = 0;
  if (sched_->needs() == Scheduler::Needs::peer_address) {
    if (static_cast<std::size_t>(fd) >= peers_.size() || !peers_[static_cast<std::size_t>(fd)].len) {
      // Not from accept_all (distribute): ask the kernel.
      sockaddr_storage addr;
      socklen_t n = sizeof addr;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &n) == 0) remember_peer(fd, addr, n);
    }
    if (static_cast<std::size_t>(fd) < peers_.size() && peers_[static_cast<std::size_t>(fd)].len) {
      peer = reinterpret_cast<const sockaddr*>(&peers_[static_cast<std::size_t>(fd)].addr);
      len = peers_[static_cast<std::size_t>(fd)].len;
    }
  }
  const ServerInfo server{key_, sched_address_, sched_port_};
  const int id = sched_->pick(Pick{server, peer, len, candidates_});
  auto it = members_.find(id);
  if (it == members_.end() || !it->second.joined || it->second.paused) return members_.end();
  if (overdue(it->second, now)) {
    ++fallbacks_;  // stalled: its clients go elsewhere until it answers
    return members_.end();
  }
  return it;
}

void RoundRobinHandle::stop_waiting(Member& m) {
  for (auto f = m.waiting.rbegin(); f != m.waiting.rend(); ++f) queue_.push_front(f->fd);
  waiting_ -= m.waiting.size();
  m.waiting.clear();
}

void RoundRobinHandle::arm_wait_timer() {
  if (!wait_timer_) {
    wait_timer_.emplace();
    if (uv_timer_init(uv::loop(), wait_timer_->get()) != 0) {
      wait_timer_.reset();
      return;  // no timer: the bound is checked at the next accept or answer
    }
    wait_timer_->initialized();
    wait_timer_->get()->data = this;
  }
  if (uv_is_active(wait_timer_->base())) return;
  // Due when the longest-waiting connection reaches the bound.
  const std::uint64_t now = uv_now(uv::loop());
  std::uint64_t since = now;
  for (const auto& [id, m] : members_) {
    if (!m.waiting.empty()) since = std::min(since, m.waiting.front().offered_at);
  }
  const std::uint64_t due = since + wait_bound_ms();
  uv_timer_start(wait_timer_->get(), [](uv_timer_t* t) {
    uv::CallbackScope scope;
    auto* self = static_cast<RoundRobinHandle*>(t->data);
    if (!self) return;
    self->hand_out();
    if (self->waiting_ && !self->closed_) self->arm_wait_timer();
  }, due > now ? due - now : 1, 0);
}

void RoundRobinHandle::unreachable(int worker) {
  // It gets nothing more; what it holds is settled when it leaves (its 'disconnect' follows).
  auto it = members_.find(worker);
  if (it == members_.end()) return;
  it->second.joined = false;
  stop_waiting(it->second);
  forget_if_done(worker);
  if (!anyone()) nobody_left();
}

bool RoundRobinHandle::anyone() const {
  return std::any_of(members_.begin(), members_.end(), [](const auto& p) { return p.second.joined; });
}

bool RoundRobinHandle::nobody_left() {
  if (!keep_open_) {
    close_all();
    return true;
  }
  // Kept open: stop accepting; connections wait in the backlog for the next worker.
  if (poll_) uv_poll_stop(poll_->get());
  return false;
}

bool RoundRobinHandle::set_keep_open(bool on) {
  keep_open_ = on;
  if (!on && !closed_ && !anyone()) close_all();
  return closed_;
}

void RoundRobinHandle::release(int fd) {
  auto s = std::find_if(sending_.begin(), sending_.end(), [fd](const Sending& x) { return x.fd == fd; });
  if (s != sending_.end()) {
    s->release = true;  // closed by on_written once the last frame carrying it has left
  } else {
    close_fd(fd);
  }
}

void RoundRobinHandle::requeue(int fd) {
  if (closed_) {
    release(fd);
  } else {
    queue_.push_front(fd);
  }
}

void RoundRobinHandle::on_written(int worker, int fd, bool ok) {
  auto s = std::find_if(sending_.begin(), sending_.end(), [fd](const Sending& x) { return x.fd == fd; });
  if (s != sending_.end() && --s->writes == 0) {
    const bool release = s->release;
    sending_.erase(s);
    if (release) close_fd(fd);
  }
  auto it = members_.find(worker);
  if (it == members_.end()) return;
  auto& fds = it->second.in_flight;
  auto f = std::find_if(fds.begin(), fds.end(), [fd](const Flight& x) { return x.fd == fd; });
  if (f == fds.end()) return;  // answered or taken back already
  if (ok && !it->second.cut_off) {
    f->written = true;  // the answer settles it
    return;
  }
  fds.erase(f);
  if (ok) {
    release(fd);  // cut off: the worker has it and may serve it
    forget_if_done(worker);
  } else {
    // Never left: another worker gets it, and a channel that failed a write is not offered
    // another connection (offering it again at once spun the loop: a failed write is reported
    // on the next tick, before the loop could see the channel's end).
    requeue(fd);
    unreachable(worker);
  }
  hand_out();
}

void RoundRobinHandle::on_reply(int worker, int fd, bool accepted) {
  auto it = members_.find(worker);
  if (it == members_.end()) return;  // already taken back
  auto& fds = it->second.in_flight;
  auto f = std::find_if(fds.begin(), fds.end(), [fd](const Flight& x) { return x.fd == fd; });
  if (f == fds.end()) return;  // already taken back
  fds.erase(f);
  if (accepted && it->second.totals) ++it->second.totals->handed_off;
  if (accepted || closed_) {
    release(fd);  // the worker has its own copy, or nobody is left to take it
  } else {
    // The worker is shutting down (or full): another one gets it. A scheduler would pick the
    // same worker again, so this goes to the fair choice.
    (sched_ ? fair_queue_ : queue_).push_back(fd);
    it->second.last = ++clock_;
  }
  forget_if_done(worker);
  hand_out();
}

void RoundRobinHandle::forget_if_done(int worker) {
  auto it = members_.find(worker);
  if (it != members_.end() && !it->second.joined && it->second.in_flight.empty()) members_.erase(it);
}

bool RoundRobinHandle::remove(int worker, Leaving how) {
  auto it = members_.find(worker);
  if (it == members_.end()) return closed_;  // closed already when its channel failed mid-send
  Member& m = it->second;
  m.joined = false;
  stop_waiting(m);
  auto& fds = m.in_flight;
  if (how == Leaving::unreachable && !m.cut_off) {
    // Nothing it was sent will be served: back to the front, oldest first.
    for (auto f = fds.rbegin(); f != fds.rend(); ++f) requeue(f->fd);
    fds.clear();
  } else if (how == Leaving::cut_off) {
    m.cut_off = true;
    for (auto f = fds.begin(); f != fds.end();) {
      if (f->written) {
        release(f->fd);
        f = fds.erase(f);
      } else {
        ++f;  // on_written decides
      }
    }
  }
  forget_if_done(worker);
  if (!anyone()) return nobody_left();
  hand_out();
  return false;
}

void RoundRobinHandle::close_all() {
  if (closed_) return;
  closed_ = true;
  for (int fd : queue_) release(fd);
  queue_.clear();
  for (int fd : fair_queue_) release(fd);
  fair_queue_.clear();
  for (auto& [worker, m] : members_) {
    for (const Flight& f : m.waiting) release(f.fd);
    m.waiting.clear();
  }
  waiting_ = 0;
  wait_timer_.reset();
  poll_.reset();
  retry_.reset();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
  unlink_path_.clear();
}

}  // namespace cluster
