// net.Socket on a libuv stream: reads straight into one shared buffer, writes try the kernel first
// and queue only the rest, and Node's allowHalfOpen=false ending (EOF from the peer ends our side).
#include "net/socket_impl.hpp"

#include "detail.hpp"
#include "net/sockaddr.hpp"
#include "uv/tick.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

namespace cluster::net {
namespace {

// One buffer for every socket: data events are synchronous and the loop has one thread.
char read_buffer[64 * 1024];

struct WriteReq {
  uv_write_t req;
  std::string data;
  WriteCallback cb;
  std::weak_ptr<Socket> owner;
};

struct ShutdownReq {
  uv_shutdown_t req;
  std::weak_ptr<Socket> owner;
};

struct ConnectReq {
  uv_connect_t req;
  std::weak_ptr<Socket> owner;
};

std::system_error make_error(int status, const char* syscall) {
  return std::system_error(uv_error(status), syscall);
}

}  // namespace

Socket::Socket(Private) : impl_(std::make_unique<Impl>()) { impl_->owner = this; }

Socket::~Socket() {
  impl_->owner = nullptr;
  impl_->h.close();
}

std::shared_ptr<Socket> Socket::Impl::make(bool pipe) {
  auto s = std::make_shared<Socket>(Private{});
  Impl& i = *s->impl_;
  i.pipe = pipe;
  int err = pipe ? uv_pipe_init(uv::loop(), &i.h.get()->pipe, 0) : uv_tcp_init(uv::loop(), &i.h.get()->tcp);
  if (err == 0) {
    i.h.initialized();
    i.h.get()->handle.data = &i;
  }
  return s;
}

std::shared_ptr<Socket> Socket::Impl::adopt(int fd, bool pipe, int* err) {
  auto s = make(pipe);
  Impl& i = *s->impl_;
  *err = pipe ? uv_pipe_open(&i.h.get()->pipe, fd) : uv_tcp_open(&i.h.get()->tcp, fd);
  if (*err) return nullptr;  // fd still belongs to the caller
  i.self = s;
  i.start_reading();
  return s;
}

std::shared_ptr<Socket> Socket::Impl::accept_from(uv_stream_t* server, bool pipe, int* err) {
  auto s = make(pipe);
  Impl& i = *s->impl_;
  *err = uv_accept(server, i.stream());
  if (*err) return nullptr;
  i.self = s;
  i.start_reading();
  return s;
}

void Socket::Impl::start_reading() {
  if (destroyed || read_ended || paused || reading || connecting) return;
  reading = true;
  uv_read_start(
      stream(),
      [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(read_buffer, sizeof read_buffer); },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
    uv::CallbackScope scope;
        auto* impl = static_cast<Impl*>(st->data);
        if (!impl || !impl->owner || n == 0) return;
        auto keep = impl->self;
        if (n > 0) {
          impl->owner->emit(ev::data, std::string_view(buf->base, static_cast<std::size_t>(n)));
        } else if (n == UV_EOF) {
          impl->on_eof();
        } else {
          impl->fail(static_cast<int>(n), "read");
        }
      });
}

void Socket::Impl::on_eof() {
  read_ended = true;
  reading = false;
  uv_read_stop(stream());
  owner->emit(ev::end);
  if (destroyed) return;
  // Node's allowHalfOpen=false: the peer's end ends ours; the socket closes when both are done.
  if (!ending) {
    owner->end();
  } else if (shut) {
    finish(std::nullopt);
  }
}

void Socket::Impl::fail(int status, const char* syscall) {
  if (destroyed) return;
  finish(make_error(status, syscall));
}

void Socket::Impl::finish(std::optional<std::system_error> err) {
  if (destroyed) return;
  destroyed = true;
  reading = false;
  h.close();
  for (auto& [bytes, cb] : pending) {
    if (cb) uv::next_tick([cb = std::move(cb)] { cb(uv_error(UV_ECANCELED)); });
  }
  pending.clear();
  // close (and the loop's reference) on a later tick, after the current callback has finished.
  uv::next_tick([keep = std::move(self), err = std::move(err)] {
    if (!keep) return;
    Impl& i = *keep->impl_;
    if (err) {
      if (keep->listener_count(ev::error) > 0) {
        keep->emit(ev::error, *err);
      } else if (err->code() != uv_error(UV_ECONNRESET) && err->code() != uv_error(UV_EPIPE)) {
        cluster::detail::report_error(*err);
      }
    }
    if (auto fn = std::move(i.on_close)) fn();
    keep->emit(ev::close, err.has_value());
  });
}

bool Socket::Impl::write_now(std::string_view data, WriteCallback cb) {
  uv_stream_t* st = stream();
  std::size_t off = 0;
  if (st->write_queue_size == 0 && !data.empty()) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    int n = uv_try_write(st, &b, 1);
    if (n >= 0) {
      off = static_cast<std::size_t>(n);
    } else if (n != UV_EAGAIN) {
      if (cb) uv::next_tick([cb = std::move(cb), n] { cb(uv_error(n)); });
      fail(n, "write");
      return false;
    }
  }
  if (off == data.size()) {
    if (cb) uv::next_tick([cb = std::move(cb)] { cb({}); });
    return true;
  }
  auto* r = new WriteReq{{}, std::string(data.substr(off)), std::move(cb), owner->weak_from_this()};
  uv_buf_t b = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
  int err = uv_write(&r->req, st, &b, 1, [](uv_write_t* req, int status) {
    uv::CallbackScope scope;
    auto* r = reinterpret_cast<WriteReq*>(req);
    auto cb = std::move(r->cb);
    auto self = r->owner.lock();
    delete r;
    if (cb) cb(status < 0 ? uv_error(status) : std::error_code());
    if (!self) return;
    Impl& i = *self->impl_;
    if (status < 0) {
      if (status != UV_ECANCELED) i.fail(status, "write");
      return;
    }
    if (i.need_drain && !i.destroyed && i.stream()->write_queue_size == 0) {
      i.need_drain = false;
      self->emit(ev::drain);
    }
  });
  if (err) {
    auto fn = std::move(r->cb);
    delete r;
    if (fn) uv::next_tick([fn = std::move(fn), err] { fn(uv_error(err)); });
    fail(err, "write");
    return false;
  }
  bool below = st->write_queue_size < high_water_mark;
  if (!below) need_drain = true;
  return below;
}

void Socket::Impl::shutdown_now() {
  auto* r = new ShutdownReq{{}, owner->weak_from_this()};
  int err = uv_shutdown(&r->req, stream(), [](uv_shutdown_t* req, int status) {
    uv::CallbackScope scope;
    auto* r = reinterpret_cast<ShutdownReq*>(req);
    auto self = r->owner.lock();
    delete r;
    if (!self || self->impl_->destroyed) return;
    Impl& i = *self->impl_;
    i.shut = true;
    if (status < 0 || i.read_ended) i.finish(std::nullopt);
  });
  if (err) {
    delete r;
    finish(std::nullopt);
  }
}

std::shared_ptr<Socket> Socket::connect(const ConnectOptions& o) {
  const bool pipe = !o.path.empty();
  auto s = Impl::make(pipe);
  Impl& i = *s->impl_;
  i.connecting = true;
  i.self = s;
  auto on_connect = [](uv_connect_t* req, int status) {
    uv::CallbackScope scope;
    auto* r = reinterpret_cast<ConnectReq*>(req);
    auto self = r->owner.lock();
    delete r;
    if (!self || self->impl_->destroyed) return;
    Impl& i = *self->impl_;
    if (status < 0) {
      i.fail(status, "connect");
      return;
    }
    i.connecting = false;
    auto pending = std::move(i.pending);
    i.pending.clear();
    i.pending_bytes = 0;
    for (auto& [bytes, cb] : pending) i.write_now(bytes, std::move(cb));
    i.start_reading();
    self->emit(ev::connect);
    if (i.end_after_connect && !i.destroyed) i.shutdown_now();
  };
  if (pipe) {
    auto* r = new ConnectReq{{}, s};
    uv_pipe_connect(&r->req, &i.h.get()->pipe, o.path.c_str(), on_connect);
    return s;
  }
  std::weak_ptr<Socket> weak = s;
  const int port = o.port;
  detail::lookup(o.host, 0, [weak, port, on_connect](int err, const std::string& ip, int) {
    auto s = weak.lock();
    if (!s || s->impl_->destroyed) return;
    Impl& i = *s->impl_;
    sockaddr_storage ss{};
    if (!err && !detail::make_sockaddr(ip, port, ss)) err = UV_EINVAL;
    if (!err) {
      auto* r = new ConnectReq{{}, s};
      err = uv_tcp_connect(&r->req, &i.h.get()->tcp, reinterpret_cast<sockaddr*>(&ss), on_connect);
      if (err) delete r;
    }
    if (err) {
      // Reported on a later tick so a caller's error listener, added after connect(), sees it.
      uv::next_tick([s, err] { s->impl_->fail(err, err == UV_EAI_NONAME ? "getaddrinfo" : "connect"); });
    }
  });
  return s;
}

std::shared_ptr<Socket> Socket::connect(int port, const std::string& host) {
  return connect(ConnectOptions{port, host, {}});
}

std::shared_ptr<Socket> Socket::from(Handle&& h) {
  if (!h) throw std::invalid_argument("net::Socket::from: empty handle");
  auto kind = detail::sock_kind(h.fd());
  if (kind != detail::SockKind::tcp && kind != detail::SockKind::pipe) {
    throw std::invalid_argument("net::Socket::from: the handle is not a stream socket");
  }
  int fd = h.owned() ? h.release() : fcntl(h.fd(), F_DUPFD_CLOEXEC, 0);
  int err = 0;
  auto s = Impl::adopt(fd, kind == detail::SockKind::pipe, &err);
  if (!s) {
    ::close(fd);
    throw std::system_error(uv_error(err), "net::Socket::from");
  }
  s->impl_->key = h.key;
  return s;
}

bool Socket::write(std::string_view data, WriteCallback cb) {
  Impl& i = *impl_;
  if (i.destroyed || i.ending) {
    if (cb) uv::next_tick([cb = std::move(cb)] { cb(uv_error(UV_EPIPE)); });
    return false;
  }
  if (i.connecting) {
    i.pending_bytes += data.size();
    i.pending.emplace_back(std::string(data), std::move(cb));
    if (i.pending_bytes >= high_water_mark) i.need_drain = true;
    return i.pending_bytes < high_water_mark;
  }
  return i.write_now(data, std::move(cb));
}

void Socket::end(std::string_view data) {
  Impl& i = *impl_;
  if (i.destroyed || i.ending) return;
  if (!data.empty()) write(data);
  i.ending = true;
  if (i.connecting) {
    i.end_after_connect = true;
    return;
  }
  i.shutdown_now();
}

void Socket::destroy() { impl_->finish(std::nullopt); }

void Socket::pause() {
  Impl& i = *impl_;
  i.paused = true;
  if (i.reading && !i.destroyed) {
    i.reading = false;
    uv_read_stop(i.stream());
  }
}

void Socket::resume() {
  impl_->paused = false;
  impl_->start_reading();
}

void Socket::set_no_delay(bool on) {
  if (!impl_->destroyed && !impl_->pipe) uv_tcp_nodelay(&impl_->h.get()->tcp, on ? 1 : 0);
}

std::optional<Address> Socket::remote_address() const { return detail::remote_address(fd()); }
std::optional<Address> Socket::local_address() const { return detail::local_address(fd()); }

std::size_t Socket::write_queue_size() const {
  if (impl_->destroyed) return 0;
  return impl_->connecting ? impl_->pending_bytes : impl_->stream()->write_queue_size;
}

bool Socket::connecting() const { return impl_->connecting && !impl_->destroyed; }
bool Socket::destroyed() const { return impl_->destroyed; }

int Socket::fd() const {
  if (impl_->destroyed || !impl_->h.valid()) return -1;
  uv_os_fd_t fd = -1;
  if (uv_fileno(&impl_->h.get()->handle, &fd) != 0) return -1;
  return fd;
}

int Socket::release_fd() {
  int fd = this->fd();
  if (fd < 0) return -1;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -1;
  impl_->finish(std::nullopt);
  return copy;
}

Handle Socket::to_handle(SendOptions opts) {
  Handle h;
  if (opts.keep_open) {
    int fd = this->fd();
    if (fd >= 0) h = Handle::borrow(fd, HandleType::net_socket);
  } else {
    int fd = release_fd();
    if (fd >= 0) h = Handle::adopt(fd, HandleType::net_socket);
  }
  if (h) h.key = impl_->key;
  return h;
}

void Socket::ref() {
  if (impl_->h.valid()) uv_ref(impl_->h.base());
}

void Socket::unref() {
  if (impl_->h.valid()) uv_unref(impl_->h.base());
}

}  // namespace cluster::net
