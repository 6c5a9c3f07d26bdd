// The per-worker watchdog of `cppcluster run --ready notify --watchdog DURATION`: systemd's
// WatchdogSec= for each worker. Every worker's program gets WATCHDOG_USEC (the interval) and
// WATCHDOG_PID (its own pid), as systemd gives them to a service; once the worker is ready it
// must send WATCHDOG=1 on its NOTIFY_SOCKET at least once an interval. A ready worker silent for
// a whole interval, or one that sends WATCHDOG=trigger, is hung: it is sent SIGTERM, SIGKILLed
// kill_grace later if still alive, and the pool respawns it as any worker that died unexpectedly
// (counted toward a crash loop, as the pool's own hang kills are).
#pragma once

#include "cluster/cluster.hpp"

#include <chrono>
#include <functional>
#include <map>

namespace cppcluster {

class Watchdogs {
 public:
  using Clock = std::chrono::steady_clock;
  // Called before a worker is judged silent: it must read the notifications already waiting for
  // that worker (after a stall of the supervisor's own loop, pings may sit unread).
  using ReadPending = std::function<void(int id)>;

  // interval 0: off (every call does nothing).
  Watchdogs(std::chrono::milliseconds interval, std::chrono::milliseconds kill_grace, ReadPending read_pending);
  Watchdogs(const Watchdogs&) = delete;
  Watchdogs& operator=(const Watchdogs&) = delete;
  // Stops every watch and kill timer (workers already signalled are not waited for).
  ~Watchdogs();

  // True when --watchdog asked for one.
  bool enabled() const noexcept { return interval_.count() > 0; }
  // The interval in microseconds, for WATCHDOG_USEC (0 when off).
  long long usec() const noexcept { return interval_.count() * 1000; }

  // Starts watching worker w, now ready: its first WATCHDOG=1 is due within the interval.
  void ready(cluster::Worker& w);
  // WATCHDOG=1 from worker id: its next one is due within the interval from now. Pings of a
  // worker not watched (not ready yet, or retiring) are ignored, as systemd ignores them before
  // the service runs.
  void ping(int id);
  // WATCHDOG=trigger from worker id: a watched worker is replaced now.
  void trigger(int id);
  // Stops watching worker id (it retires, stops on its own, or has exited).
  void forget(int id);
  // Stops watching every worker (the supervisor stops).
  void forget_all();
  // Workers replaced so far.
  unsigned replaced() const noexcept { return replaced_; }

 private:
  struct Watch {
    Clock::time_point last;  // readiness or the last ping
    cluster::Timer timer;
  };
  void arm(int id, Clock::duration after);
  void expired(int id);
  void replace(int id, const std::string& why);

  std::chrono::milliseconds interval_;
  std::chrono::milliseconds kill_grace_;
  ReadPending read_pending_;
  std::map<int, Watch> watched_;
  std::map<int, cluster::Timer> killing_;
  unsigned replaced_ = 0;
};

}  // namespace cppcluster
