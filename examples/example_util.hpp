// Small helpers shared by the HTTP examples: settings from the environment, signal handlers
// on the loop, and a warning for workers that never listen.
#pragma once

#include <cluster/cluster.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>

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

// Warns on stderr about each worker that is online but has not listened `after` later (0: never
// warns). Node has no such warning: a worker that never listens is legitimate when it runs jobs,
// so this belongs in a server's primary, where it means a worker stuck before listen().
inline void warn_unless_listening(std::chrono::milliseconds after) {
  if (after.count() <= 0) return;
  cluster::on(cluster::ev::online, [after](cluster::Worker& w) {
    auto listened = std::make_shared<bool>(false);
    w.once(cluster::ev::listening, [listened] { *listened = true; });
    std::weak_ptr<cluster::Worker> weak = w.shared_from_this();
    cluster::set_timeout([weak, listened, after] {
      auto w = weak.lock();
      if (!w || *listened || w->is_dead() || !w->is_connected()) return;
      std::fprintf(stderr, "warning: worker %d (pid %d) is online but has not listened after %lld ms\n", w->id(),
                   w->process().pid(), static_cast<long long>(after.count()));
    }, after).unref();  // never keeps the primary alive by itself
  });
}

}  // namespace example
