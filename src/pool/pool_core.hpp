// The state behind cluster::Pool, shared by its parts: members and slots (pool.cpp), respawn and
// the crash loop (respawn.cpp), rolling reload (reload.cpp), retirement and stop (retire.cpp),
// heartbeats and hang kills (health.cpp), recycling (recycle.cpp). Everything here is built on the
// public cluster API, but for the heartbeat act (one handler registered with the primary).
#pragma once

#include "cluster/pool.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
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
  Clock::time_point ready_at{};
  Timer ready_timer;
  Timer deadline_timer;
  // Heartbeats (health.cpp): it said it answers them; when it last did; found hung and killed.
  bool heartbeat = false;
  Clock::time_point last_heartbeat{};
  bool hung = false;
  Timer kill_timer;  // SIGKILL at kill_grace after the hang's SIGTERM
  // Recycling (recycle.cpp): its memory limit (0: none); on the old worker, why its replacement
  // is starting; on the newcomer, that it replaces one being recycled (not a reload's).
  std::uint64_t rss_limit = 0;
  std::uint64_t connection_limit = 0;  // hand-offs after which it is recycled (0: none)
  std::optional<RecycleReason> recycling;
  bool for_recycle = false;
};

// A position the pool keeps filled, with its own respawn backoff.
struct Slot {
  unsigned restarts = 0;
  unsigned hangs = 0;
  unsigned recycles = 0;
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
  // One heartbeat timer and one health timer for the whole pool, not one a worker.
  Timer heartbeat_timer;
  Clock::time_point last_heartbeat_tick{};
  Timer health_timer;
  std::mt19937_64 rng{std::random_device{}()};

  // pool.cpp
  std::shared_ptr<Member> fork_member(int slot, bool incoming);
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
  // health.cpp
  bool heartbeats_on() const noexcept { return opt.heartbeat_interval.count() > 0; }
  void start_health();
  void stop_health();
  void watch_heartbeat(const std::shared_ptr<Member>& m);
  void unwatch_heartbeat(const Member& m);
  void heartbeat_tick();
  void kill_hung(const std::shared_ptr<Member>& m);
  // recycle.cpp
  // limit lowered by a random fraction below recycle_jitter (0 stays 0).
  std::uint64_t jittered(std::uint64_t limit);
  void health_tick();
  // Forks a newcomer into m's slot; m retires once it is ready (ev::recycled), as in a reload.
  // Does nothing (false) during stop() or after a crash loop, for a worker not ready or already
  // leaving, or while its slot has a newcomer on its way (a reload's or another recycle's).
  bool recycle(const std::shared_ptr<Member>& m, RecycleReason reason);
};

}  // namespace cluster::detail
