// Node's listenInCluster (lib/net.js) for a worker: the queryServer request, checkBindError, and
// the server that follows the primary's answer (round-robin: no socket here, connections arrive
// with newconn; shared: the primary's bound socket, listened on and accepted from here).
#include "net/server_impl.hpp"

#include "detail.hpp"
#include "net/js_string.hpp"
#include "scheduler/connection_stats.hpp"
#include "uv/tick.hpp"

#include <unistd.h>

namespace cluster::net {

void Server::Impl::listen_in_cluster(Message fields, const detail::ServerSpec& spec, bool exclusive) {
  connection_key = detail::js_field(fields, "addressType") + ":" + detail::js_field(fields, "address") + ":" +
                   detail::js_field(fields, "port");
  if (cluster::detail::role() != cluster::detail::Role::worker || exclusive) {
    listen_local(spec, false);
    return;
  }
  std::weak_ptr<Server> weak = owner->weak_from_this();
  const int id = listening_id;
  slot = child::get_server(fields, [weak, id, spec](child::ServerReply& r) {
    auto srv = weak.lock();
    if (!srv) return;
    Impl& i = *srv->impl_;
    if (i.listening_id != id) {
      // Node's listenOnPrimaryHandle: a later listen()/close() made this answer stale.
      if (i.slot && i.slot->key == r.key) child::close_server(*i.slot);
      return;
    }
    i.on_reply(r, spec);
  });
  // child.js: 'listening' goes to the primary from a listener added after the user's callback.
  std::weak_ptr<child::ServerSlot> weak_slot = slot;
  const int requested = spec.port;
  owner->once(ev::listening, [weak, weak_slot, requested] {
    auto srv = weak.lock();
    auto sl = weak_slot.lock();
    if (!srv || !sl) return;
    auto a = srv->address();
    child::send_listening(*sl, a && a->port > 0 ? a->port : requested);
  });
}

void Server::Impl::on_reply(child::ServerReply& r, const detail::ServerSpec& spec) {
  int err = r.err;
  // Node's checkBindError: a deferred bind failure shows as a port other than the one asked for.
  if (!err && spec.port > 0) {
    int bound = -1;
    if (r.handle) {
      if (auto a = detail::local_address(r.handle.fd())) bound = a->port;
    } else if (r.sockname.is_object() && r.sockname.contains("port")) {
      bound = r.sockname["port"].is_number_integer() ? r.sockname["port"].get<int>() : -1;
    }
    if (bound != -1 && bound != spec.port) err = UV_EADDRINUSE;
  }
  if (err) {
    if (slot) child::close_server(*slot);
    slot.reset();
    return fail(err, "bind", spec);
  }
  std::weak_ptr<Server> weak = owner->weak_from_this();
  auto close_for_disconnect = [weak](std::function<void()> done) {
    auto srv = weak.lock();
    if (!srv || srv->impl_->mode == Mode::none) return done();
    srv->close([done](std::error_code) { done(); });
  };
  // newconn: answered first (refused when closing or at max_connections), then attached.
  auto acceptor = [weak](Mode expected) {
    child::RrAcceptor a;
    a.can_accept = [weak, expected] {
      auto srv = weak.lock();
      return srv && srv->impl_->mode == expected && !srv->impl_->at_limit();
    };
    a.take = [weak, expected](Handle& h) {
      // The primary counts what it handed off (sched_rr, and what it rescued from a stalled
      // worker under sched_reuseport); a cppcluster primary hears of each close (including a
      // connection accepted but never attached) to know what stays open.
      const bool report = child::reports_closes();
      auto srv = weak.lock();
      if (!srv || !h) {
        if (report) child::note_closed();
        return;
      }
      if (srv->impl_->on_fd) {
        // A raw descriptor for its owner, with the token that reports its close.
        srv->impl_->give_descriptor(h.release(), report);
        return;
      }
      auto kind = detail::sock_kind(h.fd());
      int fd = h.release();
      int aerr = 0;
      auto s = Socket::Impl::adopt(fd, kind == detail::SockKind::pipe, &aerr);
      if (!s) {
        ::close(fd);
        if (report) child::note_closed();
        return;
      }
      srv->impl_->attach(s);
      if (report) {
        // Runs on a later tick than this (Socket::Impl::finish), so wrapping here is in time.
        s->impl_->on_close = [counted = std::move(s->impl_->on_close)] {
          if (counted) counted();
          child::note_closed();
        };
      }
    };
    return a;
  };
  if (r.handle) {
    int fd = r.handle.release();
    if (int e = start_handle(fd, spec.backlog, Mode::shared)) {
      child::close_server(*slot);
      slot.reset();
      return fail(e, "listen", spec);
    }
    child::add_server(*slot, acceptor(Mode::shared), close_for_disconnect);
  } else {
    rr_ref.emplace();
    if (uv_async_init(uv::loop(), rr_ref->get(), [](uv_async_t*) {}) == 0) {
      rr_ref->initialized();
      if (!reffed) uv_unref(rr_ref->base());
    }
    mode = Mode::rr;
    if (r.sockname.is_object()) {
      Address a;
      a.address = r.sockname.value("address", "");
      a.port = r.sockname.value("port", 0);
      a.address_type = r.sockname.value("family", "") == "IPv6" ? AddressType::tcp6 : AddressType::tcp4;
      rr_address = a;
    } else if (spec.port == -1) {
      rr_address = Address{spec.address.value_or(""), -1, AddressType::unix_socket, std::nullopt};
    }
    child::add_server(*slot, acceptor(Mode::rr), close_for_disconnect);
  }
  became_listening();
}

}  // namespace cluster::net
