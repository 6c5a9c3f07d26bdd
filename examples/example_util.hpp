// Small helpers shared by the HTTP examples: settings from the environment and signal handlers
// on the loop.
#pragma once

#include <cluster/cluster.hpp>
#include <uv.h>

#include <cstdlib>
#include <initializer_list>

namespace example {

// The integer in environment variable name, or fallback when it is unset or empty.
inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Runs fn on each of the signals (libuv signal handles, so on the loop); the handles never keep
// the process alive.
inline void on_signals(std::initializer_list<int> signals, void (*fn)(int)) {
  for (int sig : signals) {
    auto* h = new uv_signal_t{};
    uv_signal_init(cluster::loop(), h);
    h->data = reinterpret_cast<void*>(fn);
    uv_signal_start(h, [](uv_signal_t* s, int signum) { reinterpret_cast<void (*)(int)>(s->data)(signum); }, sig);
    uv_unref(reinterpret_cast<uv_handle_t*>(h));
  }
}

}  // namespace example
