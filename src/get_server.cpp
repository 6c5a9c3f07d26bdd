#include "get_server.hpp"

#include "child.hpp"
#include "detail.hpp"
#include "internal_message.hpp"
#include "wire.hpp"

#include <map>
#include <set>
#include <unordered_map>

namespace cluster::child {
namespace {

struct IndexSet {
  int next = 0;
  std::set<int> used;
};

struct State {
  bool installed = false;
  std::map<std::string, IndexSet> indexes;
  std::unordered_map<std::string, RrAcceptor> acceptors;  // newconn takers by server key
};

State& st() {
  static State* s = new State();  // lives as long as the process
  return *s;
}

// Array.prototype.join's view of a value: null and undefined become "".
std::string join_part(const Message& m, const char* field) {
  auto it = m.find(field);
  if (it == m.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  return it->dump();
}

void remove_index(ServerSlot& slot) {
  auto& indexes = st().indexes;
  auto it = indexes.find(slot.indexes_key);
  if (it == indexes.end()) return;
  it->second.used.erase(slot.index);
  if (it->second.used.empty()) indexes.erase(it);
}

// child.js onconnection: answer first, then hand the connection over (or close it).
void on_newconn(Worker& w, Message& m, Handle& h) {
  auto key = m.find("key");
  RrAcceptor* acceptor = nullptr;
  if (key != m.end() && key->is_string()) {
    auto it = st().acceptors.find(key->get_ref<const std::string&>());
    if (it != st().acceptors.end()) acceptor = &it->second;
  }
  // Without its descriptor (lost on the way) there is nothing to take: another worker gets it.
  bool accepted = h && acceptor && acceptor->can_accept && acceptor->can_accept();
  internal::send(w, {{"ack", m.value("seq", Message())}, {"accepted", accepted}});
  if (accepted && h) {
    auto take = acceptor->take;  // the acceptor may be removed while take runs
    take(h);
  }
  h.reset();
}

void install() {
  if (st().installed) return;
  st().installed = true;
  set_act_handler(wire::act::newconn, on_newconn);
}

void send_close(const std::string& key) {
  Worker& w = cluster::worker();
  internal::send(w, {{"act", wire::act::close}, {"key", key}});
}

}  // namespace

std::shared_ptr<ServerSlot> get_server(const Message& options, std::function<void(ServerReply&)> cb) {
  install();
  Worker& w = cluster::worker();
  auto slot = std::make_shared<ServerSlot>();
  slot->indexes_key = join_part(options, "address") + ":" + join_part(options, "port") + ":" +
                      join_part(options, "addressType") + ":" + join_part(options, "fd");
  auto& set = st().indexes[slot->indexes_key];
  slot->index = set.next++;
  set.used.insert(slot->index);

  Message q = Message::object();
  q["act"] = wire::act::query_server;
  q["index"] = slot->index;
  q["data"] = nullptr;
  for (const auto& [k, v] : options.items()) q[k] = v;
  slot->query = q;

  internal::send(w, q, {}, [slot, cb = std::move(cb)](Worker&, Message& m, Handle& h) {
    ServerReply r;
    if (auto e = m.find("errno"); e != m.end() && e->is_number_integer()) r.err = e->get<int>();
    if (auto k = m.find("key"); k != m.end() && k->is_string()) r.key = k->get<std::string>();
    if (auto s = m.find("sockname"); s != m.end()) r.sockname = *s;
    if (h) r.handle = std::move(h);
    if (!slot->open) {
      // Closed before the answer came (Node's listeningId check): give the handle back.
      if (!r.err && !r.key.empty()) send_close(r.key);
      return;
    }
    slot->key = r.key;
    if (r.err) {
      remove_index(*slot);
      slot->open = false;
    }
    cb(r);
  });
  return slot;
}

void add_server(ServerSlot& slot, RrAcceptor acceptor, std::function<void(std::function<void()>)> close) {
  st().acceptors[slot.key] = std::move(acceptor);
  add_handle(slot.key, ServerHandle{std::move(close)});
}

void close_server(ServerSlot& slot) {
  if (!slot.open) return;
  slot.open = false;
  remove_index(slot);
  if (slot.key.empty()) return;
  send_close(slot.key);
  st().acceptors.erase(slot.key);
  remove_handle(slot.key);
}

void send_listening(ServerSlot& slot, int port) {
  if (!slot.open) return;
  Worker& w = cluster::worker();
  detail::WorkerAccess::state(w) = WorkerState::listening;
  Message m = slot.query;
  m["act"] = wire::act::listening;
  m["port"] = port;
  internal::send(w, m);
}

}  // namespace cluster::child
