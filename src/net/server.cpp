// net.Server (lib/net.js listen/_listen2/close): listening on a local socket in a primary or a
// plain program, accepting, and closing; the worker's cluster path is in listen_in_cluster.cpp.
#include "net/server_impl.hpp"

#include "detail.hpp"
#include "uv/tick.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

namespace cluster::net {

std::string describe(const detail::ServerSpec& spec) {
  if (spec.fd) return "fd " + std::to_string(*spec.fd);
  if (spec.port == -1 && spec.address_type == -1) return spec.address.value_or("");
  return spec.address.value_or("") + ":" + std::to_string(spec.port);
}

namespace {

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

Server::Server(Private) : impl_(std::make_unique<Impl>()) { impl_->owner = this; }

Server::~Server() {
  if (impl_->slot) child::close_server(*impl_->slot);
}

std::shared_ptr<Server> Server::create(ConnectionListener on_connection) {
  auto s = std::make_shared<Server>(Private{});
  if (on_connection) s->on(ev::connection, std::move(on_connection));
  return s;
}

void Server::Impl::attach(const std::shared_ptr<Socket>& s) {
  ++connections;
  s->impl_->key = connection_key;
  std::weak_ptr<Server> weak = owner->weak_from_this();
  s->impl_->on_close = [weak] {
    auto srv = weak.lock();
    if (!srv) return;
    --srv->impl_->connections;
    if (srv->impl_->closing) srv->impl_->emit_close_if_drained();
  };
  owner->emit(ev::connection, s);
}

int Server::Impl::start_handle(int fd, int backlog, Mode m) {
  auto kind = detail::sock_kind(fd);
  if (kind != detail::SockKind::tcp && kind != detail::SockKind::pipe) {
    close_fd(fd);
    return UV_EINVAL;
  }
  pipe = kind == detail::SockKind::pipe;
  h.emplace();
  AnyStream* st = h->get();
  int err = pipe ? uv_pipe_init(uv::loop(), &st->pipe, 0) : uv_tcp_init(uv::loop(), &st->tcp);
  if (err) {
    close_fd(fd);
    h.reset();
    return err;
  }
  h->initialized();
  st->handle.data = this;
  err = pipe ? uv_pipe_open(&st->pipe, fd) : uv_tcp_open(&st->tcp, fd);
  if (err) {
    close_fd(fd);
    h.reset();
    return err;
  }
  if (on_fd) {
    if ((err = start_accept_poll(fd, backlog))) {
      h.reset();  // closes fd too
      return err;
    }
    mode = m;
    return 0;
  }
  err = uv_listen(&st->stream, backlog > 0 ? backlog : 511, [](uv_stream_t* st, int status) {
    uv::CallbackScope scope;
    auto* i = static_cast<Impl*>(st->data);
    if (!i) return;
    auto keep = i->self;
    if (status < 0) return i->accept_failed(status);
    int aerr = 0;
    auto s = Socket::Impl::accept_from(st, i->pipe, &aerr);
    if (!s) return;
    if (i->at_limit()) {
      s->destroy();
      return;
    }
    i->attach(s);
  });
  if (err) {
    h.reset();  // closes fd too
    return err;
  }
  if (!reffed) uv_unref(&st->handle);
  mode = m;
  return 0;
}

void Server::Impl::accept_failed(int status) {
  std::system_error e(uv_error(status), "accept");
  if (owner->listener_count(ev::error)) owner->emit(ev::error, e);
}

int Server::Impl::fd() const {
  uv_os_fd_t fd = -1;
  if (!h || uv_fileno(h->base(), &fd) != 0) return -1;
  return fd;
}

void Server::Impl::became_listening() {
  pending = false;
  const int id = listening_id;
  auto keep = self;
  uv::next_tick([keep, id] {
    if (!keep || keep->impl_->listening_id != id || keep->impl_->mode == Mode::none) return;
    keep->emit(ev::listening);
  });
}

void Server::Impl::fail(int err, const char* syscall, const detail::ServerSpec& spec) {
  pending = false;
  // Node's ExceptionWithHostPort: the address and port asked for (port -1 for a Unix socket).
  std::optional<int> port;
  if (spec.port >= -1) port = spec.port;
  SystemError e(uv_error(err), std::string(syscall) + " " + describe(spec), syscall, spec.address, port);
  // The error is emitted on a later tick (Node: nextTick), then the loop's reference is dropped.
  uv::next_tick([keep = std::move(self), e] {
    if (!keep) return;
    if (keep->listener_count(ev::error)) {
      keep->emit(ev::error, e);
    } else {
      cluster::detail::report_error(e);
    }
  });
}

void Server::Impl::listen_local(const detail::ServerSpec& given, bool own_fd) {
  // Node reports a local listen failure as 'listen' on the address it tried: :: for any address.
  detail::ServerSpec spec = given;
  if (!spec.address && !spec.fd && spec.port >= 0) spec.address = "::";
  int fd;
  if (spec.fd && !own_fd) {
    fd = *spec.fd;  // Node's listen({fd}) in a primary takes the descriptor itself
  } else {
    fd = detail::create_server_socket(given);
    if (fd < 0) return fail(fd, "listen", spec);
    if (spec.port == -1 && spec.address_type == -1) unlink_path = spec.address.value_or("");
  }
  if (int err = detail::listen_socket(fd, spec)) {
    close_fd(fd);
    if (!unlink_path.empty()) ::unlink(unlink_path.c_str());
    unlink_path.clear();
    return fail(err, "listen", spec);
  }
  if (int err = start_handle(fd, spec.backlog, Mode::local)) {
    if (!unlink_path.empty()) ::unlink(unlink_path.c_str());
    unlink_path.clear();
    return fail(err, "listen", spec);
  }
  became_listening();
}

void Server::Impl::emit_close_if_drained() {
  if (mode != Mode::none || connections > 0 || pending) return;
  auto keep = owner->shared_from_this();
  self.reset();
  uv::next_tick([keep] {
    Impl& i = *keep->impl_;
    if (!i.closing || i.mode != Mode::none || i.connections > 0) return;
    i.closing = false;
    auto cbs = std::move(i.close_cbs);
    i.close_cbs.clear();
    keep->emit(ev::close);
    for (auto& cb : cbs) cb({});
  });
}

void Server::listen(const ListenOptions& o, std::function<void()> cb) {
  Impl& i = *impl_;
  if (i.mode != Impl::Mode::none || i.pending) throw std::logic_error("ERR_SERVER_ALREADY_LISTEN: listen() called twice");
  if (cb) once(ev::listening, std::move(cb));
  ++i.listening_id;
  i.pending = true;
  i.self = shared_from_this();
  detail::ServerSpec spec;
  spec.backlog = o.backlog;
  spec.flags = o.ipv6_only ? 1u : 0u;
  Message f = Message::object();
  if (o.fd && *o.fd >= 0) {
    spec.fd = o.fd;
    spec.port = -2;  // neither a port nor a path: checkBindError and describe() skip it
    f["address"] = nullptr;
    f["port"] = nullptr;
    f["addressType"] = nullptr;
    f["fd"] = *o.fd;
    f["backlog"] = o.backlog;
    i.listen_in_cluster(std::move(f), spec, o.exclusive);
    return;
  }
  if (!o.path.empty()) {
    std::string path = o.path;
    if (path[0] != '/' && cluster::detail::role() == cluster::detail::Role::worker) {
      // child.js resolves the path so that every worker names the same socket.
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd)) path = std::string(cwd) + "/" + path;
    }
    spec.address = path;
    spec.port = -1;
    spec.address_type = -1;
    spec.readable_all = o.readable_all;
    spec.writable_all = o.writable_all;
    f["address"] = path;
    f["port"] = -1;
    f["addressType"] = -1;
    f["backlog"] = o.backlog;
    if (o.readable_all) f["readableAll"] = true;
    if (o.writable_all) f["writableAll"] = true;
    i.listen_in_cluster(std::move(f), spec, o.exclusive);
    return;
  }
  spec.port = o.port;
  if (o.host.empty()) {
    spec.address_type = 4;
    f["address"] = nullptr;
    f["port"] = o.port;
    f["addressType"] = 4;
    f["backlog"] = o.backlog;
    i.listen_in_cluster(std::move(f), spec, o.exclusive);
    return;
  }
  std::weak_ptr<Server> weak = weak_from_this();
  const int id = i.listening_id;
  detail::lookup(o.host, 0, [weak, id, o, spec](int err, const std::string& ip, int family) mutable {
    auto srv = weak.lock();
    if (!srv || srv->impl_->listening_id != id) return;
    spec.address = o.host;
    if (err) return srv->impl_->fail(err, "getaddrinfo", spec);
    spec.address = ip;
    spec.address_type = family;
    Message f = Message::object();
    f["address"] = ip;
    f["port"] = o.port;
    f["addressType"] = family;
    f["flags"] = spec.flags;
    f["backlog"] = o.backlog;
    srv->impl_->listen_in_cluster(std::move(f), spec, o.exclusive);
  });
}

void Server::listen(int port, std::function<void()> cb) {
  ListenOptions o;
  o.port = port;
  listen(o, std::move(cb));
}

void Server::listen(int port, const std::string& host, std::function<void()> cb) {
  ListenOptions o;
  o.port = port;
  o.host = host;
  listen(o, std::move(cb));
}

void Server::listen(Handle handle, std::function<void()> cb) {
  Impl& i = *impl_;
  if (i.mode != Impl::Mode::none || i.pending) throw std::logic_error("ERR_SERVER_ALREADY_LISTEN: listen() called twice");
  if (!handle) throw std::invalid_argument("net::Server::listen: empty handle");
  auto kind = detail::sock_kind(handle.fd());
  if (kind != detail::SockKind::tcp && kind != detail::SockKind::pipe) {
    throw std::invalid_argument("net::Server::listen: the handle is not a stream socket");
  }
  if (cb) once(ev::listening, std::move(cb));
  ++i.listening_id;
  i.pending = true;
  i.self = shared_from_this();
  int fd = handle.owned() ? handle.release() : fcntl(handle.fd(), F_DUPFD_CLOEXEC, 0);
  detail::ServerSpec spec;
  spec.fd = fd;
  spec.port = -2;
  if (auto a = detail::local_address(fd)) {
    i.connection_key = std::to_string(static_cast<int>(a->address_type)) + ":" + a->address + ":" + std::to_string(a->port);
  }
  // Node: listen(handle) never asks the primary; the handle is this process's own.
  if (int err = i.start_handle(fd, 511, Impl::Mode::local)) {
    return i.fail(err, "listen", spec);
  }
  i.became_listening();
}

void Server::close(std::function<void(std::error_code)> cb) {
  Impl& i = *impl_;
  const bool running = i.mode != Impl::Mode::none || i.pending;
  if (cb) {
    if (running) {
      i.close_cbs.push_back(std::move(cb));
    } else {
      i.close_cbs.push_back([cb = std::move(cb)](std::error_code) {
        cb(std::make_error_code(std::errc::not_connected));
      });
    }
  }
  ++i.listening_id;
  if (i.slot) child::close_server(*i.slot);
  i.slot.reset();
  i.stop_accepting();
  i.h.reset();
  i.rr_ref.reset();
  if (!i.unlink_path.empty()) ::unlink(i.unlink_path.c_str());
  i.unlink_path.clear();
  i.mode = Impl::Mode::none;
  i.pending = false;
  i.rr_address.reset();
  i.closing = true;
  i.emit_close_if_drained();
}

std::optional<Address> Server::address() const {
  const Impl& i = *impl_;
  switch (i.mode) {
    case Impl::Mode::rr: return i.rr_address;
    case Impl::Mode::local:
    case Impl::Mode::shared: return detail::local_address(i.fd());
    case Impl::Mode::none: break;
  }
  return std::nullopt;
}

bool Server::listening() const { return impl_->mode != Impl::Mode::none; }
std::size_t Server::connections() const { return impl_->connections; }
void Server::set_max_connections(std::optional<std::size_t> n) { impl_->max_connections = n; }

void Server::ref() {
  impl_->reffed = true;
  if (impl_->h) uv_ref(impl_->h->base());
  if (impl_->accept_poll) uv_ref(impl_->accept_poll->base());
  if (impl_->rr_ref) uv_ref(impl_->rr_ref->base());
}

void Server::unref() {
  impl_->reffed = false;
  if (impl_->h) uv_unref(impl_->h->base());
  if (impl_->accept_poll) uv_unref(impl_->accept_poll->base());
  if (impl_->rr_ref) uv_unref(impl_->rr_ref->base());
}

Handle Server::to_handle() const {
  const Impl& i = *impl_;
  int fd = i.fd();
  if (fd < 0) return {};
  return Handle::borrow(fd, HandleType::net_server);
}

}  // namespace cluster::net
