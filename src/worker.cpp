// cluster.Worker (lib/internal/cluster/worker.js): the parts both roles share.
#include "cluster/worker.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "uv/tick.hpp"

#include <stdexcept>

namespace cluster {

void IpcChannel::ref() {
  if (target_ && target_->connected()) target_->ref();
}

void IpcChannel::unref() {
  if (target_ && target_->connected()) target_->unref();
}

Worker::Worker(int id) : id_(id) {}

Worker::~Worker() = default;

ChildProcess& Worker::process() {
  if (!process_) throw std::logic_error("worker.process() is only available in the primary");
  return *process_;
}

bool Worker::send(const Message& msg, Handle handle, SendOptions options, SendCallback cb) {
  if (!target_) {
    // A worker started without a channel (NODE_UNIQUE_ID set by hand): nothing to send on.
    auto ec = make_error_code(errc::channel_closed);
    if (cb) {
      uv::next_tick([cb = std::move(cb), ec] { cb(ec); });
    } else {
      auto self = weak_from_this();
      uv::next_tick([self, ec] {
        if (auto w = self.lock()) detail::emit_error(*w, std::system_error(ec, "send"));
      });
    }
    return false;
  }
  if (!target_->connected()) return target_->send(msg, std::move(handle), options, std::move(cb));
  // Before the loop runs, the frame leaves now (Node writes at once when it can).
  bool ok = false;
  uv::run_ticks_now_if_outside_loop([&] { ok = target_->send(msg, std::move(handle), options, std::move(cb)); });
  return ok;
}

void Worker::kill(int sig) {
  if (detail::role() == detail::Role::primary) {
    primary::kill(*this, sig);
  } else {
    child::destroy(*this);
  }
}

Worker& Worker::disconnect() {
  if (detail::role() == detail::Role::primary) {
    primary::disconnect(*this);
  } else {
    child::disconnect(*this);
  }
  return *this;
}

bool Worker::is_connected() const { return target_ && target_->connected(); }

bool Worker::is_dead() const {
  return process_ && (process_->exit_code() || process_->signal_code());
}

std::string_view state_name(WorkerState s) noexcept {
  switch (s) {
    case WorkerState::none: return "none";
    case WorkerState::online: return "online";
    case WorkerState::listening: return "listening";
    case WorkerState::disconnecting: return "disconnecting";
    case WorkerState::destroying: return "destroying";
    case WorkerState::disconnected: return "disconnected";
    case WorkerState::dead: return "dead";
  }
  return "";
}

}  // namespace cluster
