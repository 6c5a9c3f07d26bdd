// process.on('SIGHUP', fn) for C++: one uv_signal_t per signal number (Node's signalWraps map),
// shared by that signal's listeners, ref'd only while a listener asked for KeepAlive::yes.
#include "cluster/signal.hpp"

#include "uv/handle.hpp"
#include "uv/tick.hpp"

#include <csignal>
#include <map>
#include <memory>
#include <stdexcept>

namespace cluster {
namespace {

struct SignalWatch {
  uv::Handle<uv_signal_t> handle;
  Signal<int> listeners;
  std::map<listener_id, KeepAlive> keep;  // per listener, for the handle's ref count
};

struct Registry {
  std::map<int, std::shared_ptr<SignalWatch>> by_signal;
  std::map<listener_id, int> signal_of;
  listener_id next = 0;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: its handles belong to the loop
  return *r;
}

void update_ref(SignalWatch& w) {
  bool keep = false;
  for (const auto& [id, k] : w.keep) keep = keep || k == KeepAlive::yes;
  if (keep) {
    uv_ref(w.handle.base());
  } else {
    uv_unref(w.handle.base());
  }
}

void on_uv_signal(uv_signal_t* h, int signum) {
  auto& all = registry().by_signal;
  auto it = all.find(signum);
  if (!h->data || it == all.end()) return;
  // Held here: a listener may remove the last listener, which drops the watch.
  std::shared_ptr<SignalWatch> w = it->second;
  uv::CallbackScope scope;
  w->listeners.emit(signum);
}

}  // namespace

listener_id on_signal(int sig, std::function<void(int)> fn, KeepAlive keep) {
  if (!fn) throw std::logic_error("on_signal: empty listener");
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    throw std::invalid_argument("on_signal: signal " + std::to_string(sig) + " cannot be caught");
  }
  auto& r = registry();
  auto& slot = r.by_signal[sig];
  if (!slot) {
    auto w = std::make_shared<SignalWatch>();
    uv_signal_init(uv::loop(), w->handle.get());
    w->handle.initialized();
    w->handle.get()->data = w.get();
    if (int rc = uv_signal_start(w->handle.get(), on_uv_signal, sig); rc != 0) {
      r.by_signal.erase(sig);
      throw std::invalid_argument(std::string("on_signal: ") + uv_strerror(rc));
    }
    slot = std::move(w);
  }
  const listener_id id = ++r.next;
  slot->listeners.add(id, std::move(fn), false);
  slot->keep[id] = keep;
  r.signal_of[id] = sig;
  update_ref(*slot);
  return id;
}

bool off_signal(listener_id id) {
  auto& r = registry();
  auto it = r.signal_of.find(id);
  if (it == r.signal_of.end()) return false;
  const int sig = it->second;
  r.signal_of.erase(it);
  auto& w = *r.by_signal.at(sig);
  w.listeners.remove(id);
  w.keep.erase(id);
  if (w.keep.empty()) {
    // Closing the handle gives the signal libuv's default disposition back; an emit in progress
    // holds the watch until it returns.
    r.by_signal.erase(sig);
  } else {
    update_ref(w);
  }
  return true;
}

}  // namespace cluster
