#include "internal_message.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <unordered_map>

namespace cluster::internal {
namespace {

struct Pending {
  const Worker* worker;
  AckHandler fn;
};

struct State {
  std::int64_t seq = 0;
  std::unordered_map<std::int64_t, Pending> callbacks;
};

State& state() {
  static State s;
  return s;
}

}  // namespace

bool send(Worker& w, Message fields, Handle handle, AckHandler on_ack, ipc::WriteCallback written) {
  ipc::Target* t = detail::WorkerAccess::target(w);
  if (!t || !t->connected()) return false;
  auto& s = state();
  Message m;
  if (fields.is_object() && !fields.empty() && fields.begin().key() == "cmd") {
    m = std::move(fields);
    m.begin().value() = wire::node_cluster;
    m.erase("seq");
  } else {
    m = Message::object();
    m["cmd"] = wire::node_cluster;
    for (auto& [k, v] : fields.items()) {
      if (k != "cmd" && k != "seq") m[k] = std::move(v);
    }
  }
  m["seq"] = s.seq;
  if (on_ack) s.callbacks.emplace(s.seq, Pending{&w, std::move(on_ack)});
  s.seq += 1;
  // Before the loop runs (online at start-up, a listen() in main), the frame leaves now.
  bool ok = false;
  uv::run_ticks_now_if_outside_loop([&] { ok = t->send_internal(std::move(m), std::move(handle), std::move(written)); });
  return ok;
}

void dispatch(Worker& w, Message& msg, Handle& handle, const ActHandler& onmessage) {
  auto cmd = msg.find("cmd");
  if (cmd == msg.end() || *cmd != wire::node_cluster) return;
  if (auto ack = msg.find("ack"); ack != msg.end() && ack->is_number_integer()) {
    auto& cbs = state().callbacks;
    auto it = cbs.find(ack->get<std::int64_t>());
    if (it != cbs.end() && it->second.worker == &w) {
      AckHandler fn = std::move(it->second.fn);
      cbs.erase(it);
      fn(w, msg, handle);
      return;
    }
  }
  onmessage(w, msg, handle);
}

void forget(const Worker& w) {
  auto& cbs = state().callbacks;
  for (auto it = cbs.begin(); it != cbs.end();) {
    if (it->second.worker == &w) {
      it = cbs.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace cluster::internal
