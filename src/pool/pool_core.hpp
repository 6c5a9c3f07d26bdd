// The state behind cluster::Pool, shared by its parts: members and slots (pool.cpp), respawn and
// the crash loop (respawn.cpp), rolling reload (reload.cpp), retirement and stop (retire.cpp).
// Everything here is built on the public cluster API only.
#pragma once

#include "cluster/pool.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

namespace cluster::detail {

using Clock = std::chrono::steady_clock;

// One worker the pool forked.
struct Member {
  std::shared_ptr<Worker> worker;
  int slot = 0;
  // Forked by a reload to take over its slot's current worker once ready.
  bool incoming = false;
  PoolWorkerState state = PoolWorkerState::starting;
  Clock::time_point started = Clock::now();
  unsigned generation = 0;
  unsigned listening = 0;
  bool gone = false;
  bool retire_asked = false;        // the pool retired it: its exit is expected
  bool failed_start = false;        // killed for not becoming ready in time
  bool killed_at_deadline = false;  // SIGKILLed because its retirement's deadline passed
  Timer ready_timer;
  Timer deadline_timer;
};

// A position the pool keeps filled, with its own respawn backoff.
struct Slot {
  unsigned restarts = 0;
  std::chrono::milliseconds backoff{0};
  Timer respawn;
};

struct PoolCore : std::enable_shared_from_this<PoolCore> {
  PoolCore(Pool& o, PoolOptions opts) : owner(o), opt(std::move(opts)) {}

  Pool& owner;
  PoolOptions opt;
  unsigned target = 0;
  std::vector<Slot> slots;
  std::vector<std::shared_ptr<Member>> members;  // not yet gone
  unsigned generation = 0;
  bool started = false;
  bool stopping = false;
  bool crash_looped = false;
  std::deque<Clock::time_point> unexpected;  // within the crash-loop window
  bool reloading = false;
  bool reload_queued = false;
  std::vector<std::function<void(const StopResult&)>> stop_cbs;
  StopResult stop_result;
  // hold_servers() from start() until stop() or a crash loop: servers outlive the workers.
  std::shared_ptr<void> servers_hold;

  // pool.cpp
  void fork_member(int slot, bool incoming);
  void mark_ready(const std::shared_ptr<Member>& m);
  void on_gone(const std::shared_ptr<Member>& m);
  std::shared_ptr<Member> current_of(int slot) const;
  std::shared_ptr<Member> incoming_of(int slot) const;
  // respawn.cpp
  void schedule_respawn(int slot, Clock::duration uptime);
  void respawn_now(int slot);
  void count_unexpected_exit();
  // reload.cpp
  void start_reload();
  void reload_step();
  void promote(const std::shared_ptr<Member>& incoming);
  void incoming_failed(const std::shared_ptr<Member>& m);
  // retire.cpp
  void retire(const std::shared_ptr<Member>& m, std::chrono::milliseconds deadline);
  void begin_stop(std::chrono::milliseconds deadline, std::function<void(const StopResult&)> cb);
  void finish_stop_if_done();
};

}  // namespace cluster::detail
