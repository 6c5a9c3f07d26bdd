// Small helpers shared by the HTTP examples: settings from the environment and signal handlers
// on the loop.
#pragma once

#include <cluster/cluster.hpp>

#include <cstdlib>
#include <initializer_list>

namespace example {

// The integer in environment variable name, or fallback when it is unset or empty.
inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Runs fn on each of the signals (on the loop); the listeners never keep the process alive.
inline void on_signals(std::initializer_list<int> signals, void (*fn)(int)) {
  for (int sig : signals) cluster::on_signal(sig, fn);
}

}  // namespace example
