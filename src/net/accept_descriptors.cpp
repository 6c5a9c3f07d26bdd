// Server::on_descriptor: connections handed over as raw descriptors, with no Socket or libuv
// handle made for them. A listening socket of this process is watched with a uv_poll_t and
// accepted from here with accept4 (uv_listen would accept into a libuv handle first); a
// round-robin connection's descriptor is passed on as received.
#include "net/server_impl.hpp"

#include "detail.hpp"
#include "scheduler/connection_stats.hpp"
#include "uv/tick.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace cluster::net {

namespace {

// Connections accepted per wake of the listening socket: the rest wait for the next pass, so
// that a flood of connections cannot keep this loop from its other work.
constexpr int accepts_per_wake = 64;
// Out of descriptors (EMFILE, ENFILE): accepting pauses this long instead of spinning on a
// listening socket that stays readable.
constexpr std::uint64_t out_of_descriptors_pause_ms = 100;

AddressType kind_of(int fd) {
  if (auto a = detail::local_address(fd)) return a->address_type;
  return AddressType::tcp4;
}

}  // namespace

// The listening socket is readable: connections wait (or accept failed: status).
void Server::Impl::on_acceptable(uv_poll_t* p, int status, int) {
  uv::CallbackScope scope;
  auto* i = static_cast<Impl*>(p->data);
  if (!i) return;
  auto keep = i->self;
  if (status < 0) return i->accept_failed(status);
  i->accept_pending();
}

void Server::on_descriptor(DescriptorListener cb) {
  Impl& i = *impl_;
  if (i.mode != Impl::Mode::none || i.pending) {
    throw std::logic_error("net::Server::on_descriptor: call it before listen()");
  }
  i.on_fd = std::move(cb);
}

int Server::Impl::start_accept_poll(int fd, int backlog) {
  if (::listen(fd, backlog > 0 ? backlog : 511) != 0) return uv_translate_sys_error(errno);
  fd_type = kind_of(fd);
  accept_poll.emplace();
  if (int err = uv_poll_init_socket(uv::loop(), accept_poll->get(), fd)) {
    accept_poll.reset();
    return err;
  }
  accept_poll->initialized();
  accept_poll->get()->data = this;
  if (int err = uv_poll_start(accept_poll->get(), UV_READABLE, on_acceptable)) {
    accept_poll.reset();
    return err;
  }
  if (!reffed) uv_unref(accept_poll->base());
  return 0;
}

void Server::Impl::accept_pending() {
  for (int n = 0; n < accepts_per_wake; ++n) {
    // The listener may close the server: its descriptor is then gone.
    if (!accept_poll || !on_fd || mode == Mode::none) return;
    const int lfd = fd();
    const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd >= 0) {
      on_fd(cfd, fd_type, OpenConnection{});  // the primary did not hand it over: not counted
      continue;
    }
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    if (e == EINTR || e == ECONNABORTED) continue;  // this connection is gone; try the next
    if (e == EMFILE || e == ENFILE) pause_accepting();  // the connections wait in the backlog
    return accept_failed(uv_translate_sys_error(e));
  }
}

void Server::Impl::pause_accepting() {
  if (!accept_pause) {
    accept_pause.emplace();
    if (uv_timer_init(uv::loop(), accept_pause->get()) != 0) {
      accept_pause.reset();
      return;  // not paused: the next readable wake retries
    }
    accept_pause->initialized();
    uv_unref(accept_pause->base());  // the listening poll keeps the loop alive, not this
  }
  uv_poll_stop(accept_poll->get());
  accept_pause->get()->data = this;
  uv_timer_start(accept_pause->get(), [](uv_timer_t* t) {
    uv::CallbackScope scope;
    auto* i = static_cast<Impl*>(t->data);
    if (!i || !i->accept_poll || i->mode == Mode::none) return;
    auto keep = i->self;
    uv_poll_start(i->accept_poll->get(), UV_READABLE, on_acceptable);
    i->accept_pending();
  }, out_of_descriptors_pause_ms, 0);
}

void Server::Impl::give_descriptor(int fd, bool counted) {
  // The primary's address says what the connection is; without one (a handle given by fd), ask.
  const AddressType type = rr_address ? rr_address->address_type : kind_of(fd);
  on_fd(fd, type, OpenConnection(OpenConnection::Private{}, counted));
}

OpenConnection::OpenConnection(Private, bool counted) noexcept : counted_(counted) {}

void OpenConnection::reset() noexcept {
  if (!counted_) return;
  counted_ = false;
  child::note_closed();
}

void Server::Impl::stop_accepting() {
  accept_pause.reset();
  accept_poll.reset();  // before h: the poll watches h's descriptor
}

}  // namespace cluster::net
