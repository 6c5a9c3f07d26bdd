/// @file
/// cppcluster: the Node.js cluster module in C++20. One libuv loop per process, as in Node;
/// every callback runs on it, on the thread that calls cluster::run().
#pragma once

#include "cluster/child_process.hpp"
#include "cluster/emitter.hpp"
#include "cluster/error.hpp"
#include "cluster/events.hpp"
#include "cluster/message.hpp"
#include "cluster/settings.hpp"
#include "cluster/signal.hpp"
#include "cluster/timer.hpp"
#include "cluster/worker.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>

struct uv_loop_s;

namespace cluster {

/// Scheduling policies (Node's cluster.SCHED_NONE and cluster.SCHED_RR), and beyond Node
/// sched_reuseport: one SO_REUSEPORT socket per worker, bound by the primary, for TCP and UDP (the
/// kernel spreads connections, and UDP flows, over the workers; Unix sockets and listen({fd})
/// fall back to sched_rr, dgram bind({fd}) is shared as under the others).
inline constexpr int sched_none = 1;
/// Node's cluster.SCHED_RR: the primary accepts each connection and hands it to a worker.
inline constexpr int sched_rr = 2;
/// Beyond Node: one SO_REUSEPORT socket per worker, bound by the primary.
inline constexpr int sched_reuseport = 3;

/// Environment entries fork() adds to (or overrides in) the worker's environment.
using Env = std::map<std::string, std::string>;

/// True in the primary: NODE_UNIQUE_ID is not in the environment.
bool is_primary();
/// Deprecated alias of is_primary().
[[deprecated("use is_primary()")]] bool is_master();
/// True in a worker (NODE_UNIQUE_ID is set, even if empty).
bool is_worker();

/// Starts a worker with the current settings; env entries are added to this process's environment.
/// Primary only: throws std::logic_error in a worker. A worker that cannot be started still returns
/// a Worker, which reports the failure through its error event (Node's spawn ENOENT behaviour).
/// Throws std::invalid_argument for settings fork cannot use (a bad inspect port, a stdio array
/// without exactly one ipc entry) and, like setup_primary(), for an unknown
/// NODE_CLUSTER_SCHED_POLICY.
std::shared_ptr<Worker> fork(const Env& env = {});
/// Merges the set fields of s into settings(); the first call fills Node's defaults. Emits setup on
/// a later tick. Primary only (std::logic_error in a worker); std::invalid_argument for an
/// ipc_busy_poll_us above one second, or (first call, no set_scheduling_policy()) for a
/// NODE_CLUSTER_SCHED_POLICY other than rr, none, reuseport or empty: nothing is changed then.
void setup_primary(const Settings& s = {});
/// Deprecated alias of setup_primary().
[[deprecated("use setup_primary()")]] void setup_master(const Settings& s = {});
/// The current settings: empty until the first setup_primary() or fork().
const Settings& settings();

/// The scheduling policy: sched_rr unless NODE_CLUSTER_SCHED_POLICY is "none" (sched_none) or
/// "reuseport" (sched_reuseport). In the primary, throws std::invalid_argument naming the valid
/// values when the variable holds another (non-empty) value and set_scheduling_policy() was not
/// called (Node 20 takes it for rr in silence); a worker reads it as rr.
int scheduling_policy();
/// Sets the policy; throws std::logic_error once frozen by the first fork() or setup_primary(), or
/// std::invalid_argument for a value other than sched_rr, sched_none and sched_reuseport.
void set_scheduling_policy(int policy);

/// The worker's own Worker (worker only: std::logic_error in the primary).
Worker& worker();
/// Node's process.disconnect() in a worker (std::logic_error in the primary): closes the channel
/// to the primary at once, without worker().disconnect()'s handshake (the primary then sees
/// exited_after_disconnect false); the worker emits disconnect and exits 0, as Node's does. When
/// already disconnected, the worker's error event gets errc::channel_closed.
void process_disconnect();
/// The live workers by id (primary only). A worker is removed once it has both disconnected and
/// exited, before the later of those two events is emitted.
std::map<int, std::shared_ptr<Worker>> workers();
/// Calls disconnect() on every connected worker; cb runs once they are all gone (never
/// synchronously). Primary only.
void disconnect(std::function<void()> cb = {});

/// Beyond Node: while the returned hold (or a copy) lives, a shared server stays open when its
/// last worker leaves: the primary stops accepting and connections wait in the backlog until a
/// worker listens on it again (a pool's replacement), instead of being refused. Dropping the last
/// hold closes the servers no worker shares. Primary only (std::logic_error in a worker).
std::shared_ptr<void> hold_servers();

/// Runs the loop until nothing is left to do; returns 0.
int run();
/// The process's libuv loop, for integrating other libuv code.
uv_loop_s* loop();

/// What another event loop needs to run this process's loop inside it (cluster/asio.hpp does so
/// for Asio): fd becomes readable when the loop has I/O to handle (libuv's backend descriptor),
/// timeout_ms is how long it may wait for its next timer (0: it has work now, -1: only I/O can
/// wake it), alive says whether it still has anything to do (referenced handles or requests).
struct LoopBackend {
  int fd = -1;          ///< libuv's backend descriptor (epoll): readable when there is I/O
  int timeout_ms = -1;  ///< the wait until its next timer; 0: work now, -1: only I/O wakes it
  bool alive = false;   ///< whether it has referenced handles or requests left
};
/// The loop's backend as above, read now; never fails.
LoopBackend loop_backend();
/// Runs one pass of the loop without waiting for I/O (due timers, ready I/O, closes), as run()
/// does, and returns whether the loop is still alive. Never fails; must not be called from a
/// callback of the loop itself (libuv's loop is not re-entrant).
bool run_nowait();
/// The number of CPUs this process may run on (os.availableParallelism()).
unsigned available_parallelism();

/// Receives 'error' events that have no listener (instead of Node's crash). The default hook
/// prints the error to stderr; the primary never dies of it. In a worker, the default hook ends
/// the process (exit code 1, the error's code, syscall, address and port on stderr) when a
/// server's listen or bind failed, as a Node worker dies of that unhandled 'error': such a worker
/// would otherwise live on serving nothing. A hook you set decides for itself.
using ErrorHook = std::function<void(const std::system_error&, Worker*)>;
/// Sets the receiver of error events that have no listener (see ErrorHook).
void set_error_hook(ErrorHook hook);

/// Cluster-wide events (primary).
using ClusterEmitter = Emitter<Event<ev::fork_t, Worker&>,
                               Event<ev::online_t, Worker&>,
                               Event<ev::listening_t, Worker&, const Address&>,
                               Event<ev::message_t, Worker&, const Message&, Handle&>,
                               Event<ev::disconnect_t, Worker&>,
                               Event<ev::exit_t, Worker&, int, std::string_view>,
                               Event<ev::setup_t, const Settings&>>;
/// The cluster's emitter.
ClusterEmitter& events();

/// Adds a cluster listener: cluster::on(ev::exit, [](Worker& w, int code, std::string_view sig) {}).
template <class Tag, class F>
listener_id on(Tag tag, F&& fn) {
  return events().on(tag, std::forward<F>(fn));
}
/// Adds a cluster listener that runs once.
template <class Tag, class F>
listener_id once(Tag tag, F&& fn) {
  return events().once(tag, std::forward<F>(fn));
}
/// Removes a cluster listener.
inline bool off(listener_id id) { return events().off(id); }

}  // namespace cluster
