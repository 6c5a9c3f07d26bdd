#include "ipc/handle_wire.hpp"

#include "uv/tick.hpp"
#include "wire.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace cluster::ipc {
namespace {

constexpr int max_handle_retransmissions = 3;  // Node's MAX_HANDLE_RETRANSMISSIONS

// libuv's uv__handle_type: only TCP, AF_UNIX stream and UDP sockets can be sent.
bool sendable_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return false;
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) return false;
  int family = ss.ss_family;
  if (type == SOCK_STREAM) return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
  if (type == SOCK_DGRAM) return family == AF_INET || family == AF_INET6;
  return false;
}

}  // namespace

bool is_internal(const Message& m) {
  if (!m.is_object()) return false;
  auto it = m.find("cmd");
  if (it == m.end() || !it->is_string()) return false;
  const auto& cmd = it->get_ref<const std::string&>();
  return cmd.size() > 5 && cmd.compare(0, 5, "NODE_") == 0;
}

Target::Target(int fd, Serialization mode, std::size_t max_frame)
    : channel_(std::make_unique<Channel>(fd, mode, max_frame)) {}

Target::~Target() {
  *alive_ = false;
  if (handle_queue_) {
    for (auto& q : *handle_queue_) {
      if (q.cb) q.cb(make_error_code(errc::channel_closed));
    }
  }
}

void Target::start(Callbacks cb) {
  cb_ = std::move(cb);
  channel_->start({
      [this](Message&& m) { on_frame(std::move(m)); },
      [this](const DecodeError& e) {
        if (cb_.error) cb_.error(std::system_error(e.code, e.detail));
      },
      [this] { on_end(); },
      [this](std::error_code ec) {
        if (cb_.error) cb_.error(std::system_error(ec, "write"));
      },
  });
}

void Target::ref() { channel_->ref(); }
void Target::unref() { channel_->unref(); }

void Target::report_now(const std::error_code& ec, const char* what) {
  if (cb_.error) cb_.error(std::system_error(ec, what));
}

void Target::report(const std::error_code& ec, const char* what) {
  auto alive = alive_;
  uv::next_tick([this, alive, ec, what] {
    if (*alive && cb_.error) cb_.error(std::system_error(ec, what));
  });
}

bool Target::send(const Message& msg, Handle handle, const SendOptions& opts, WriteCallback cb) {
  if (!connected_) {
    auto ec = make_error_code(errc::channel_closed);
    if (cb) {
      uv::next_tick([cb = std::move(cb), ec] { cb(ec); });
    } else {
      report(ec, "send");
    }
    return false;
  }
  if (handle && !sendable_socket(handle.fd())) {
    auto ec = make_error_code(errc::bad_handle);
    if (cb) {
      uv::next_tick([cb = std::move(cb), ec] { cb(ec); });
    } else {
      report(ec, "send");
    }
    return false;
  }
  std::shared_ptr<Handle> h;
  if (handle) h = std::make_shared<Handle>(std::move(handle));
  if (opts.keep_open && h && h->owned()) {
    // keep_open: the sender keeps its socket; the library never closes it.
    h = std::make_shared<Handle>(Handle::borrow(h->release(), h->type()));
  }
  return send_now(msg, std::move(h), opts, std::move(cb));
}

void Target::set_pipelined_handles(bool on) {
  pipelined_ = on;
  channel_->set_descriptor_batching(on);
}

bool Target::send_internal(Message msg, Handle handle, WriteCallback cb) {
  if (!connected_) return send(msg, std::move(handle), {}, std::move(cb));  // reports as send() does
  std::shared_ptr<Handle> h;
  if (handle) h = std::make_shared<Handle>(std::move(handle));
  return send_now(std::move(msg), std::move(h), {}, std::move(cb));
}

void Target::send_quiet(Message msg) {
  if (channel_->closed()) return;
  channel_->write(msg, -1, nullptr);
}

bool Target::send_now(Message msg, std::shared_ptr<Handle> handle, const SendOptions& opts, WriteCallback cb) {
  if (handle_queue_) {
    // Everything waits behind an unacknowledged handle, so messages keep their order.
    if (max_queued_bytes_) handle_queue_bytes_ += msg.dump().size() + 1;
    handle_queue_->push_back({std::move(msg), std::move(handle), opts, std::move(cb)});
    if (!check_queued()) return false;
    return handle_queue_->size() == 1;
  }
  if (!handle || !*handle) {
    // The common case: no handle, and nothing to do after the write unless the caller asked.
    channel_->write(msg, -1, std::move(cb));
    if (!check_queued()) return false;
    return channel_->write_queue_size() < 65536 * 2;
  }
  bool closes_on_ack = !pipelined_ && handle->owned() && handle->type() == HandleType::net_socket;
  if (closes_on_ack) pending_ = PendingHandle{QueuedSend{msg, handle, opts, nullptr}, 0};
  Message frame = Message::object();
  frame["cmd"] = wire::node_handle;
  frame["type"] = handle_type_name(handle->type());
  frame["msg"] = std::move(msg);
  if (handle->key) frame["key"] = *handle->key;
  if (handle->dgram_type) frame["dgramType"] = *handle->dgram_type;
  if (pipelined_) frame[wire::no_ack] = true;
  if (!pipelined_) handle_queue_.emplace();
  auto alive = alive_;
  channel_->write(frame, handle->fd(), [this, alive, handle, closes_on_ack, cb = std::move(cb)](std::error_code ec) {
    // The fd has left (or failed to); an owned non-socket handle is the library's to close now.
    if (!closes_on_ack || ec) handle->reset();
    if (cb) {
      cb(ec);
    } else if (ec && *alive && cb_.error) {
      cb_.error(std::system_error(ec, "write"));
    }
  });
  return channel_->write_queue_size() < 65536 * 2;
}

void Target::on_ack(bool nack) {
  if (pending_) {
    if (!nack) {
      pending_->send.handle->reset();
      pending_.reset();
    } else if (pending_->retransmissions++ == max_handle_retransmissions) {
      pending_->send.handle->reset();
      pending_.reset();
      if (cb_.error) {
        cb_.error(std::system_error(make_error_code(errc::handle_not_received),
                                    "Handle did not reach the receiving process correctly"));
      }
    }
  }
  if (!handle_queue_) return;  // an ACK we did not ask for: ignore it
  auto queue = std::move(*handle_queue_);
  handle_queue_.reset();
  handle_queue_bytes_ = 0;
  if (pending_) {
    auto again = pending_->send;
    int tries = pending_->retransmissions;
    pending_.reset();
    send_now(std::move(again.msg), again.handle, again.opts, std::move(again.cb));
    if (pending_) pending_->retransmissions = tries;
  }
  for (auto& q : queue) send_now(std::move(q.msg), std::move(q.handle), q.opts, std::move(q.cb));
  if (!connected_ && !channel_->closed() && !handle_queue_) do_disconnect();
}

bool Target::check_queued() {
  if (!max_queued_bytes_ || over_limit_ || channel_->write_queue_size() + handle_queue_bytes_ <= max_queued_bytes_) {
    return !over_limit_;
  }
  // The peer does not read what it is sent (or asks for more than it reads): cut it off before
  // its backlog takes the primary's memory. Closed on a later tick: this is inside a send().
  over_limit_ = true;
  connected_ = false;
  report(make_error_code(errc::limit_exceeded), "more than max_queued_bytes wait to be written to the worker");
  auto alive = alive_;
  uv::next_tick([this, alive] {
    if (*alive) destroy();
  });
  return false;
}

void Target::on_frame(Message&& m) {
  Handle none;
  // Only a NODE_HANDLE frame claims a descriptor: any other frame retires the unclaimed ones.
  if (!is_internal(m)) {
    channel_->release_unclaimed();
    if (cb_.message) cb_.message(std::move(m), none);
    return;
  }
  const auto& cmd = m["cmd"].get_ref<const std::string&>();
  if (cmd != wire::node_handle) channel_->release_unclaimed();
  if (cmd == wire::node_handle_ack || cmd == wire::node_handle_nack) {
    on_ack(cmd == wire::node_handle_nack);
    return;
  }
  if (cmd != wire::node_handle) {
    if (cb_.internal) cb_.internal(std::move(m), none);
    return;
  }
  const auto no_ack_field = m.find(wire::no_ack);
  const bool no_ack = no_ack_field != m.end() && *no_ack_field == true;
  int fd = channel_->take_fd();
  if (fd < 0 && !no_ack) {
    send_quiet({{"cmd", wire::node_handle_nack}});  // the sender retransmits
    return;
  }
  if (fd >= 0 && !no_ack) send_quiet({{"cmd", wire::node_handle_ack}});
  HandleType type = HandleType::none;
  if (auto t = m.find("type"); t != m.end() && t->is_string()) type = parse_handle_type(t->get<std::string>());
  Handle h;
  if (fd < 0) {
    // No retransmission in the pipelined exchange: the loss is reported and the message goes on
    // without its handle (a newconn is then refused and handed to another worker).
    report_now(make_error_code(errc::handle_not_received), "Handle did not reach the receiving process correctly");
  } else if (type == HandleType::none) {
    ::close(fd);  // nothing here can wrap it; the message goes on without it, as above
    report_now(make_error_code(errc::bad_handle), "NODE_HANDLE with an unknown type");
  } else {
    h = Handle::adopt(fd, type);
    if (auto k = m.find("key"); k != m.end() && k->is_string()) h.key = k->get<std::string>();
    if (auto d = m.find("dgramType"); d != m.end() && d->is_string()) h.dgram_type = d->get<std::string>();
  }
  Message inner = m.contains("msg") ? std::move(m["msg"]) : Message();
  if (is_internal(inner)) {
    if (cb_.internal) cb_.internal(std::move(inner), h);
  } else if (cb_.message) {
    cb_.message(std::move(inner), h);
  }
}

void Target::disconnect() {
  if (!connected_) {
    if (cb_.error) {
      cb_.error(std::system_error(make_error_code(errc::channel_closed), "IPC channel is already disconnected"));
    }
    return;
  }
  connected_ = false;
  if (!handle_queue_) do_disconnect();
}

void Target::do_disconnect() {
  if (pending_) {
    pending_->send.handle->reset();
    pending_.reset();
  }
  channel_->end();
  auto alive = alive_;
  uv::next_tick([this, alive] {
    if (!*alive || disconnect_emitted_) return;
    disconnect_emitted_ = true;
    if (cb_.disconnect) cb_.disconnect();
  });
}

void Target::destroy() {
  connected_ = false;
  channel_->close();
  on_end();
}

void Target::on_end() {
  // The peer is gone: nothing queued can be delivered any more.
  connected_ = false;
  if (pending_) {
    pending_->send.handle->reset();
    pending_.reset();
  }
  if (handle_queue_) {
    auto queue = std::move(*handle_queue_);
    handle_queue_.reset();
    handle_queue_bytes_ = 0;
    for (auto& q : queue) {
      if (q.handle) q.handle->reset();
      if (q.cb) {
        uv::next_tick([cb = std::move(q.cb)] { cb(make_error_code(errc::channel_closed)); });
      }
    }
  }
  auto alive = alive_;
  uv::next_tick([this, alive] {
    if (!*alive || disconnect_emitted_) return;
    disconnect_emitted_ = true;
    if (cb_.disconnect) cb_.disconnect();
  });
}

}  // namespace cluster::ipc
