/// @file
/// cluster.Worker: the primary's handle on one worker, or a worker's view of itself.
#pragma once

#include "cluster/child_process.hpp"
#include "cluster/emitter.hpp"
#include "cluster/events.hpp"
#include "cluster/message.hpp"

#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

namespace cluster {

namespace detail { struct WorkerAccess; }

/// Node's worker.state.
enum class WorkerState { none, online, listening, disconnecting, destroying, disconnected, dead };

/// The callback of send(): an empty error_code once the message is written.
using SendCallback = std::function<void(std::error_code)>;

/// The events of a Worker: online, listening(address), message(msg, handle), disconnect,
/// exit(code, signal), error, retiring.
using WorkerEmitter = Emitter<Event<ev::online_t>,
                              Event<ev::listening_t, const Address&>,
                              Event<ev::message_t, const Message&, Handle&>,
                              Event<ev::disconnect_t>,
                              Event<ev::exit_t, int, std::string_view>,
                              Event<ev::error_t, const std::system_error&>,
                              Event<ev::retiring_t>>;

/// The IPC channel of a worker, for ref()/unref(): Node's process.channel in a worker and
/// worker.process.channel in the primary. Valid as long as its Worker; once the channel has
/// closed (or when there is none) both calls do nothing.
class IpcChannel {
 public:
  /// A channel object for the library's target; get one from Worker::channel().
  explicit IpcChannel(ipc::Target* target = nullptr) noexcept : target_(target) {}
  /// Makes the open channel keep the loop alive again (the default).
  void ref();
  /// Lets the loop end although the channel is open; messages are still read while it runs.
  void unref();

 private:
  ipc::Target* target_;
};

/// A worker. The primary keeps it in workers() until it has both disconnected and exited; a user
/// may keep the shared_ptr longer and still read its state. Everything runs on the loop thread.
class Worker : public WorkerEmitter, public std::enable_shared_from_this<Worker> {
 public:
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  /// The unique id (1, 2, ...); the key in workers().
  int id() const noexcept { return id_; }
  /// The child process (primary only); throws std::logic_error in a worker.
  ChildProcess& process();
  /// Sends msg (and a socket handle) to the worker, or from a worker to the primary. Returns false
  /// when the channel is closed or backed up; cb (or else the error event) gets
  /// errc::channel_closed once the worker has disconnected.
  bool send(const Message& msg, Handle handle = {}, SendOptions options = {}, SendCallback cb = {});
  /// Primary: sends sig to the worker at once (Node 20's worker.kill). Worker: Node's destroy():
  /// tells the primary it is leaving on purpose, disconnects and exits 0.
  void kill(int sig = SIGTERM);
  /// Alias of kill().
  void destroy(int sig = SIGTERM) { kill(sig); }
  /// Primary: asks the worker to close its servers and disconnect (sets exited_after_disconnect).
  /// Worker: closes its servers, waits for them, then closes the channel. Returns *this.
  Worker& disconnect();
  /// True while the IPC channel to the primary is open.
  bool is_connected() const;
  /// True once the worker process has exited or been killed.
  bool is_dead() const;
  /// Unset (Node's undefined) until the worker disconnects or exits; then true only when the exit
  /// was asked for with disconnect()/kill() from the worker or disconnect() from the primary.
  std::optional<bool> exited_after_disconnect() const noexcept { return exited_after_disconnect_; }
  /// Node's worker.state.
  WorkerState state() const noexcept { return state_; }
  /// The IPC channel (process.channel in a worker, worker.process.channel in the primary).
  IpcChannel channel() const noexcept { return IpcChannel(target_); }

 private:
  friend struct detail::WorkerAccess;
  explicit Worker(int id);

  int id_;
  WorkerState state_ = WorkerState::none;
  std::optional<bool> exited_after_disconnect_;
  std::unique_ptr<ChildProcess> process_;  // primary side
  ipc::Target* target_ = nullptr;          // the channel this Worker sends on
};

/// The name Node gives a state ("online", ...).
std::string_view state_name(WorkerState s) noexcept;

}  // namespace cluster
