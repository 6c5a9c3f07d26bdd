/// @file
/// cluster::Pool (beyond Node, whose documentation says it "does not manage the number of workers
/// automatically"): a primary-side supervisor on the public cluster API (fork, events, Worker). It
/// keeps N workers, respawns the ones that die with a per-slot backoff, stops on a crash loop,
/// reloads them rolling (new ready before old retires) and stops them gracefully with a deadline.
/// Opt-in health checks kill a C++ worker whose loop stopped answering heartbeats and recycle a
/// worker above a memory limit (ready-then-retire, as a reload). Every cluster event still reaches
/// the user's own listeners.
#pragma once

#include "cluster/cluster.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

namespace cluster {

namespace detail { struct PoolCore; }

/// How a pool runs its workers. Durations are milliseconds.
struct PoolOptions {
  /// Workers to keep; 0 means available_parallelism().
  unsigned workers = 0;
  /// Added to every worker's environment (as fork(env)).
  Env env;
  /// Servers a worker must be listening on to count as ready; 0: only its ready() call counts.
  unsigned ready_servers = 1;
  /// A worker not ready this long after its fork is killed (SIGKILL) and counted as a failed start.
  std::chrono::milliseconds ready_timeout{30000};
  /// A slot's first respawn waits this long; each further one twice as long, up to backoff_max.
  std::chrono::milliseconds backoff_initial{100};
  /// The longest wait before a respawn.
  std::chrono::milliseconds backoff_max{10000};
  /// A worker that stayed up this long resets its slot's backoff.
  std::chrono::milliseconds stable_after{10000};
  /// This many unexpected exits (or failed starts) within crash_loop_window stop all respawning.
  /// A worker that left on purpose (exited_after_disconnect) is replaced but not counted.
  unsigned crash_loop_exits = 5;
  /// The window of the crash-loop count.
  std::chrono::milliseconds crash_loop_window{30000};
  /// Workers a reload replaces at a time (forked together, each retiring an old one once ready).
  unsigned reload_batch = 1;
  /// A worker retired by reload() or scale() is SIGKILLed if still alive this long after.
  std::chrono::milliseconds retire_deadline{30000};

  /// Hang detection (off by default: a worker that legitimately blocks its loop for long would be
  /// killed). Every heartbeat_interval the pool pings each ready C++ worker over its IPC channel;
  /// the library answers from the worker's loop, no user code involved. Node workers, which cannot
  /// answer, are never pinged. 0 turns it off.
  std::chrono::milliseconds heartbeat_interval{0};
  /// A ready worker that has not answered for this long is hung: it is sent SIGTERM, SIGKILLed
  /// kill_grace later, counted as an unexpected exit and respawned (ev::hang_killed). Raised to
  /// 2 x heartbeat_interval if lower. Detection takes up to heartbeat_timeout + heartbeat_interval.
  std::chrono::milliseconds heartbeat_timeout{10000};
  /// How long a hung worker has between SIGTERM and SIGKILL.
  std::chrono::milliseconds kill_grace{5000};
  /// Recycling: a ready worker whose resident memory (`/proc/<pid>/statm`) is above its limit is
  /// replaced ready-then-retire, as by a reload (ev::recycled). 0 turns it off.
  std::uint64_t max_rss_bytes = 0;
  /// How often the pool reads its workers' memory for recycling.
  std::chrono::milliseconds health_interval{5000};
  /// Each worker's limit is max_rss_bytes lowered by a random fraction in [0, recycle_jitter)
  /// (clamped to [0, 0.9]), so workers started together do not recycle together. The same holds
  /// for max_connections.
  double recycle_jitter = 0.1;
  /// Recycling: a ready worker that has accepted this many connections by round-robin hand-off
  /// (connection_stats(), sched_rr) is replaced ready-then-retire, checked every health_interval.
  /// 0 turns it off.
  std::uint64_t max_connections = 0;
  /// For programs without a cluster channel of their own (a plain program run through exec): a
  /// retiring worker is also sent this signal (e.g. SIGTERM) right after its disconnect(). 0: not.
  int retire_signal = 0;
};

/// What the pool thinks of one of its workers.
enum class PoolWorkerState { starting, ready, retiring };

/// One worker as the pool sees it (for a status command or metrics).
struct WorkerSnapshot {
  int id = 0;   ///< Worker::id()
  int pid = 0;  ///< its process id
  /// The position it fills, 0 .. size()-1 (a retiring worker keeps the one it had).
  int slot = 0;
  PoolWorkerState state = PoolWorkerState::starting;  ///< starting, ready or retiring
  std::chrono::milliseconds uptime{0};                ///< time since its fork
  /// Respawns of its slot so far.
  unsigned restarts = 0;
  /// Workers of its slot killed as hung so far.
  unsigned hangs = 0;
  /// Workers of its slot recycled so far.
  unsigned recycles = 0;
  /// Resident memory read from /proc when snapshot() is called; 0 when the process is gone or
  /// unreadable.
  std::uint64_t rss_bytes = 0;
  /// CPU time (user + system) read from /proc when snapshot() is called; 0 when unreadable.
  std::chrono::milliseconds cpu_time{0};
  /// The memory above which it is recycled (max_rss_bytes with its jitter); 0 when off.
  std::uint64_t rss_limit_bytes = 0;
  /// True once it said it answers heartbeats (a C++ worker, with heartbeats on).
  bool answers_heartbeat = false;
  /// Time since its last heartbeat answer (0 unless answers_heartbeat).
  std::chrono::milliseconds heartbeat_age{0};
  /// Round-robin connections (connection_stats()) it accepted in total.
  std::uint64_t handed_off = 0;
  /// Round-robin connections sent to it and not yet answered.
  std::uint64_t in_flight = 0;
  /// Round-robin connections it still holds open; empty when the worker does not report closes
  /// (a Node worker).
  std::optional<std::uint64_t> open_connections;
  /// The hand-offs after which it is recycled (max_connections with its jitter); 0 when off.
  std::uint64_t connection_limit = 0;
};

/// Why a worker was recycled: its memory (max_rss_bytes) or its hand-offs (max_connections).
enum class RecycleReason { rss, connections };

/// "rss" or "connections": the reason's name, for logs.
const char* recycle_reason_name(RecycleReason r) noexcept;

/// What stop() did: the ids of every worker it stopped, and of those SIGKILLed at the deadline.
struct StopResult {
  std::vector<int> stopped;  ///< every worker stop() retired
  std::vector<int> killed;   ///< those SIGKILLed at the deadline
};

/// The pool's events: ready(Worker&), retiring(Worker&), respawn_scheduled(slot, delay),
/// crash_loop(error with errc::crash_loop), reload(error_code: empty when done, else
/// errc::reload_failed), hang_killed(Worker&: stopped answering heartbeats, just sent SIGTERM),
/// recycled(Worker&, reason: its replacement is ready and it has just been retired).
using PoolEmitter = Emitter<Event<ev::ready_t, Worker&>,
                            Event<ev::retiring_t, Worker&>,
                            Event<ev::respawn_scheduled_t, int, std::chrono::milliseconds>,
                            Event<ev::crash_loop_t, const std::system_error&>,
                            Event<ev::reload_t, std::error_code>,
                            Event<ev::hang_killed_t, Worker&>,
                            Event<ev::recycled_t, Worker&, RecycleReason>>;

/// A self-managing set of workers, in the primary. Not copyable; it must outlive its use on the
/// loop (destroying it stops the supervision, not the workers). Do not destroy it in its listeners.
class Pool : public PoolEmitter {
 public:
  /// A pool that has not forked yet.
  explicit Pool(PoolOptions options = {});
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  /// Forks the workers. Primary only (std::logic_error in a worker, or when called twice).
  void start();
  /// Keeps n workers (n >= 1, else std::invalid_argument): more are forked at once, the newest
  /// slots above n retire gracefully.
  void scale(unsigned n);
  /// Replaces every worker, reload_batch at a time, retiring an old one only once a new one is
  /// ready; ends with a reload event (errc::reload_failed if a new worker failed: the old ones keep
  /// serving). A reload asked for during one runs after it. Ignored before start() or after stop().
  void reload();
  /// Retires every worker (a retiring message, then disconnect()), SIGKILLs those still alive at
  /// deadline, stops respawning; cb runs once all have exited (never synchronously).
  void stop(std::chrono::milliseconds deadline, std::function<void(const StopResult&)> cb = {});

  /// Marks a starting worker of this pool ready, for readiness the pool cannot see itself (a plain
  /// program's sd_notify READY=1). False, changing nothing, for a worker that is not this pool's
  /// or not starting.
  bool mark_ready(Worker& w);

  /// The workers the pool holds now, by slot then age, with their memory and CPU time read from
  /// /proc now (two small reads a worker).
  std::vector<WorkerSnapshot> snapshot() const;
  /// The number of workers the pool keeps (its target).
  unsigned size() const noexcept;
  /// Workers that are ready now (retiring ones excluded).
  unsigned ready_count() const noexcept;
  /// True once a crash loop stopped respawning.
  bool crash_looped() const noexcept;
  /// True while a reload runs.
  bool reloading() const noexcept;

 private:
  std::shared_ptr<detail::PoolCore> core_;
};

/// In a worker: tells the pool this worker is ready ({"cmd":"CPPCLUSTER_READY"}, which a Node
/// worker may send itself with process.send). std::logic_error in the primary.
void ready();

}  // namespace cluster
