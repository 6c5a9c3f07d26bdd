// Runs the process's loop in unit tests that need timers or signals but no processes.
#pragma once

#include <cluster/cluster.hpp>
#include <uv.h>

#include <chrono>
#include <cstdint>

namespace unit_loop {

// Runs the loop until it has nothing left to do, or until guard passes (then it is stopped and
// the return is false: a deadlock guard, never a pass condition). Returns the elapsed time.
inline bool run(std::chrono::milliseconds guard, std::chrono::milliseconds* elapsed = nullptr) {
  static bool fired;
  fired = false;
  uv_timer_t t;
  uv_timer_init(cluster::loop(), &t);
  uv_timer_start(&t, [](uv_timer_t* h) { fired = true; uv_stop(h->loop); },
                 static_cast<std::uint64_t>(guard.count()), 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&t));
  const auto start = std::chrono::steady_clock::now();
  uv_run(cluster::loop(), UV_RUN_DEFAULT);
  if (elapsed) {
    *elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(cluster::loop(), UV_RUN_NOWAIT);
  return !fired;
}

}  // namespace unit_loop
