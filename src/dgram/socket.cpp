// dgram.Socket (lib/dgram.js): a local UDP socket, or in a worker the primary's shared one.
#include "cluster/dgram.hpp"

#include "detail.hpp"
#include "get_server.hpp"
#include "net/sockaddr.hpp"
#include "uv/handle.hpp"
#include "uv/tick.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

namespace cluster::dgram {

struct Socket::Private {};

struct Socket::Impl {
  enum class State { unbound, binding, bound, closed };

  Socket* owner = nullptr;
  Type type = Type::udp4;
  State state = State::unbound;
  std::optional<uv::Handle<uv_udp_t>> h;
  std::shared_ptr<Socket> self;  // the loop's reference while binding or bound
  std::shared_ptr<child::ServerSlot> slot;
  bool reffed = true;
  int bind_id = 0;
  struct Queued {
    std::string data;
    int port;
    std::string address;
    SendCallback cb;
  };
  std::vector<Queued> queue;  // sends made before the socket was bound

  int fd() const {
    uv_os_fd_t fd = -1;
    if (!h || uv_fileno(h->base(), &fd) != 0) return -1;
    return fd;
  }
  int open(int fd);
  void bound();
  // Emits Node's bind error (err.syscall 'bind', err.address, err.port) on a later tick.
  void fail(int err, const std::string& where, std::optional<std::string> address = std::nullopt,
            std::optional<int> port = std::nullopt);
  void send_now(std::string_view data, int port, const std::string& address, SendCallback cb);
};

namespace {

char recv_buffer[64 * 1024];

struct SendReq {
  uv_udp_send_t req;
  std::string data;
  SendCallback cb;
};

void later(SendCallback cb, std::error_code ec) {
  if (cb) uv::next_tick([cb = std::move(cb), ec] { cb(ec); });
}

}  // namespace

Socket::Socket(Private, Type t) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->type = t;
}

Socket::~Socket() {
  if (impl_->slot) child::close_server(*impl_->slot);
}

std::shared_ptr<Socket> Socket::create(Type t) { return std::make_shared<Socket>(Private{}, t); }

Type Socket::type() const noexcept { return impl_->type; }

int Socket::Impl::open(int fd) {
  h.emplace();
  int err = uv_udp_init(uv::loop(), h->get());
  if (err) {
    ::close(fd);
    h.reset();
    return err;
  }
  h->initialized();
  h->get()->data = this;
  err = uv_udp_open(h->get(), fd);
  if (err) {
    ::close(fd);
    h.reset();
    return err;
  }
  if (!reffed) uv_unref(h->base());
  return uv_udp_recv_start(
      h->get(), [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(recv_buffer, sizeof recv_buffer); },
      [](uv_udp_t* u, ssize_t n, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
    uv::CallbackScope scope;
        auto* i = static_cast<Impl*>(u->data);
        if (!i || !i->owner) return;
        auto keep = i->self;
        if (n < 0) {
          std::system_error e(uv_error(static_cast<int>(n)), "recvmsg");
          if (i->owner->listener_count(ev::error)) i->owner->emit(ev::error, e);
          return;
        }
        if (!addr) return;  // nothing more to read
        RemoteInfo r;
        char ip[INET6_ADDRSTRLEN] = {};
        if (addr->sa_family == AF_INET) {
          auto* in = reinterpret_cast<const sockaddr_in*>(addr);
          inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
          r.port = ntohs(in->sin_port);
          r.family = "IPv4";
        } else {
          auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
          inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
          r.port = ntohs(in6->sin6_port);
          r.family = "IPv6";
        }
        r.address = ip;
        r.size = static_cast<std::size_t>(n);
        i->owner->emit(ev::message, std::string_view(buf->base, r.size), static_cast<const RemoteInfo&>(r));
      });
}

void Socket::Impl::bound() {
  state = State::bound;
  auto queued = std::move(queue);
  queue.clear();
  for (auto& q : queued) send_now(q.data, q.port, q.address, std::move(q.cb));
  const int id = bind_id;
  uv::next_tick([keep = self, id] {
    if (keep && keep->impl_->state == State::bound && keep->impl_->bind_id == id) keep->emit(ev::listening);
  });
}

void Socket::Impl::fail(int err, const std::string& where, std::optional<std::string> address,
                        std::optional<int> port) {
  state = State::unbound;
  h.reset();
  SystemError e(uv_error(err), "bind " + where, "bind", std::move(address), port);
  for (auto& q : queue) later(std::move(q.cb), uv_error(err));
  queue.clear();
  uv::next_tick([keep = std::move(self), e] {
    if (!keep) return;
    if (keep->listener_count(ev::error)) {
      keep->emit(ev::error, e);
    } else {
      cluster::detail::report_error(e);
    }
  });
}

void Socket::Impl::send_now(std::string_view data, int port, const std::string& address, SendCallback cb) {
  std::string host = address.empty() ? (type == Type::udp4 ? "127.0.0.1" : "::1") : address;
  std::weak_ptr<Socket> weak = owner->weak_from_this();
  net::detail::lookup(host, type == Type::udp4 ? 4 : 6,
                      [weak, data = std::string(data), port, cb = std::move(cb)](int err, const std::string& ip, int) mutable {
                        auto s = weak.lock();
                        if (!s || s->impl_->state != State::bound) return later(std::move(cb), uv_error(UV_EBADF));
                        sockaddr_storage ss{};
                        if (err) return later(std::move(cb), uv_error(err));
                        if (!net::detail::make_sockaddr(ip, port, ss)) return later(std::move(cb), uv_error(UV_EINVAL));
                        auto* u = s->impl_->h->get();
                        uv_buf_t b = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
                        int n = uv_udp_try_send(u, &b, 1, reinterpret_cast<sockaddr*>(&ss));
                        if (n >= 0) return later(std::move(cb), {});
                        if (n != UV_EAGAIN) return later(std::move(cb), uv_error(n));
                        auto* r = new SendReq{{}, std::move(data), std::move(cb)};
                        b = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
                        int e = uv_udp_send(&r->req, u, &b, 1, reinterpret_cast<sockaddr*>(&ss), [](uv_udp_send_t* req, int st) {
    uv::CallbackScope scope;
                          auto* r = reinterpret_cast<SendReq*>(req);
                          auto cb = std::move(r->cb);
                          delete r;
                          if (cb) cb(st < 0 ? uv_error(st) : std::error_code());
                        });
                        if (e) {
                          auto fn = std::move(r->cb);
                          delete r;
                          later(std::move(fn), uv_error(e));
                        }
                      });
}

void Socket::bind(const BindOptions& o, std::function<void()> cb) {
  Impl& i = *impl_;
  if (i.state != Impl::State::unbound) throw std::logic_error("ERR_SOCKET_ALREADY_BOUND: the socket is bound or closed");
  if (cb) once(ev::listening, std::move(cb));
  i.state = Impl::State::binding;
  i.self = shared_from_this();
  const int id = ++i.bind_id;
  const char* type_name = i.type == Type::udp4 ? "udp4" : "udp6";
  unsigned flags = (o.reuse_addr ? 4u : 0u) | (o.ipv6_only ? 1u : 0u);
  net::detail::ServerSpec spec;
  spec.udp6 = i.type == Type::udp6;
  spec.flags = flags;
  const bool worker = cluster::detail::role() == cluster::detail::Role::worker && !o.exclusive;

  if (o.fd) {
    spec.fd = o.fd;
    if (!worker) {
      int err = i.open(*o.fd);
      return err ? i.fail(err, "fd " + std::to_string(*o.fd)) : i.bound();
    }
  }
  std::string host = o.address.empty() ? (i.type == Type::udp4 ? "0.0.0.0" : "::") : o.address;
  std::weak_ptr<Socket> weak = weak_from_this();
  auto go = [weak, id, o, spec, worker, type_name](int err, const std::string& ip, int) mutable {
    auto s = weak.lock();
    if (!s || s->impl_->bind_id != id || s->impl_->state != Impl::State::binding) return;
    Impl& i = *s->impl_;
    const std::string where = (o.fd ? "fd " + std::to_string(*o.fd) : ip) + ":" + std::to_string(o.port);
    if (err) return i.fail(err, where, o.address.empty() ? std::nullopt : std::optional<std::string>(o.address), o.port);
    spec.address = ip;
    spec.port = o.port;
    if (!worker) {
      int fd = net::detail::create_udp_socket(spec);
      if (fd < 0) return i.fail(fd, where, ip, o.port);
      if (int e = i.open(fd)) return i.fail(e, where, ip, o.port);
      return i.bound();
    }
    Message f = Message::object();
    if (o.fd) {
      f["address"] = nullptr;
      f["port"] = nullptr;
      f["addressType"] = type_name;
      f["fd"] = *o.fd;
      f["flags"] = nullptr;
    } else {
      f["address"] = ip;
      f["port"] = o.port;
      f["addressType"] = type_name;
      f["fd"] = -1;
      f["flags"] = spec.flags;
    }
    i.slot = child::get_server(f, [weak, id, where, ip, port = o.port](child::ServerReply& r) {
      auto s = weak.lock();
      if (!s) return;
      Impl& i = *s->impl_;
      if (i.bind_id != id || i.state != Impl::State::binding) {
        // dgram.js: the socket was closed meanwhile; the handle it gets is closed.
        if (i.slot) child::close_server(*i.slot);
        return;
      }
      int err = r.err;
      if (!err && !r.handle) err = UV_EINVAL;
      if (!err) err = i.open(r.handle.release());
      if (err) {
        if (i.slot) child::close_server(*i.slot);
        i.slot.reset();
        return i.fail(err, where, ip, port);
      }
      // A UDP socket has no connections to take: a newconn for it is refused.
      child::add_server(*i.slot, child::RrAcceptor{[] { return false; }, nullptr}, [weak](std::function<void()> done) {
        auto s = weak.lock();
        if (!s || s->impl_->state == Impl::State::closed) return done();
        s->close([done] { done(); });
      });
      i.bound();
    });
    std::weak_ptr<child::ServerSlot> weak_slot = i.slot;
    s->once(ev::listening, [weak, weak_slot, port = o.port] {
      auto s = weak.lock();
      auto sl = weak_slot.lock();
      if (!s || !sl) return;
      auto a = s->address();
      child::send_listening(*sl, a && a->port > 0 ? a->port : port);
    });
  };
  if (o.fd) {
    go(0, "", 0);
  } else {
    net::detail::lookup(host, i.type == Type::udp4 ? 4 : 6, std::move(go));
  }
}

void Socket::bind(int port, std::function<void()> cb) {
  BindOptions o;
  o.port = port;
  bind(o, std::move(cb));
}

void Socket::bind(int port, const std::string& address, std::function<void()> cb) {
  BindOptions o;
  o.port = port;
  o.address = address;
  bind(o, std::move(cb));
}

void Socket::send(std::string_view data, int port, const std::string& address, SendCallback cb) {
  Impl& i = *impl_;
  if (i.state == Impl::State::closed) return later(std::move(cb), uv_error(UV_EBADF));
  if (i.state == Impl::State::bound) return i.send_now(data, port, address, std::move(cb));
  i.queue.push_back({std::string(data), port, address, std::move(cb)});
  if (i.state == Impl::State::unbound) {
    // dgram.js: an unbound socket binds to a random port, exclusively (never through the primary).
    BindOptions o;
    o.exclusive = true;
    bind(o);
  }
}

void Socket::close(std::function<void()> cb) {
  Impl& i = *impl_;
  if (cb) once(ev::close, std::move(cb));
  if (i.state == Impl::State::closed) return;
  i.state = Impl::State::closed;
  ++i.bind_id;
  if (i.slot) child::close_server(*i.slot);
  i.slot.reset();
  i.h.reset();
  for (auto& q : i.queue) later(std::move(q.cb), uv_error(UV_EBADF));
  i.queue.clear();
  auto keep = i.self ? std::move(i.self) : shared_from_this();
  uv::next_tick([keep] { keep->emit(ev::close); });
}

std::optional<Address> Socket::address() const {
  if (impl_->state != Impl::State::bound) return std::nullopt;
  auto a = net::detail::local_address(impl_->fd());
  if (a) a->address_type = a->address_type == AddressType::tcp6 ? AddressType::udp6 : AddressType::udp4;
  return a;
}

void Socket::ref() {
  impl_->reffed = true;
  if (impl_->h) uv_ref(impl_->h->base());
}

void Socket::unref() {
  impl_->reffed = false;
  if (impl_->h) uv_unref(impl_->h->base());
}

}  // namespace cluster::dgram
