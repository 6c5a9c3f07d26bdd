/// @file
/// cluster.settings: how fork() starts workers.
#pragma once

#include "cluster/scheduler.hpp"

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cluster {

/// How messages are framed: Node's newline-delimited JSON or its V8 serializer format.
enum class Serialization { json, advanced };

/// An optional setting that can also be written as a braced list: .args = {"--use", "http"}.
template <class T>
class maybe : public std::optional<T> {
 public:
  using std::optional<T>::optional;
  /// Holds a T built from the list's elements (for containers: .args = {"--use", "http"}).
  template <class U, class V = T, class = typename V::value_type>
  maybe(std::initializer_list<U> list) : std::optional<T>(std::in_place, list.begin(), list.end()) {}
};

/// One entry of settings.stdio, as child_process.spawn's stdio array.
struct Stdio {
  /// A pipe to the primary, /dev/null, the primary's own, the IPC channel, or a given fd.
  enum class Kind { pipe, ignore, inherit, ipc, fd };
  Kind kind = Kind::inherit;  ///< what the child gets at this index
  int fd = -1;  ///< with Kind::fd: the primary's descriptor the child gets at this index

  /// 'pipe': a pipe the primary reads or writes (ChildProcess::stdio()).
  static Stdio pipe() { return {Kind::pipe}; }
  /// 'ignore': /dev/null.
  static Stdio ignore() { return {Kind::ignore}; }
  /// 'inherit': the primary's own descriptor at this index.
  static Stdio inherit() { return {Kind::inherit}; }
  /// 'ipc': the cluster channel (exactly one entry must be this).
  static Stdio ipc() { return {Kind::ipc}; }
  /// The primary's descriptor fd, given to the child at this index.
  static Stdio from_fd(int fd) { return {Kind::fd, fd}; }
};

/// A worker's inspector port: a number, or a function called at each fork.
using InspectPort = std::variant<int, std::function<int()>>;

/// The fields of cluster.settings; an empty field means Node's "undefined".
/// setup_primary() merges the fields that are set over the current settings.
struct Settings {
  maybe<std::string> exec_path{};              ///< interpreter (e.g. /usr/bin/node); empty: run exec
  maybe<std::string> exec{};                   ///< worker program or script; default: this program
  maybe<std::vector<std::string>> args{};      ///< default: this process's arguments
  maybe<std::vector<std::string>> exec_argv{}; ///< interpreter flags, before exec; default: none
  maybe<std::string> cwd{};                    ///< default: inherit
  maybe<Serialization> serialization{};        ///< default: json
  maybe<bool> silent{};                        ///< pipe the worker's stdout/stderr to the primary
  maybe<std::vector<Stdio>> stdio{};           ///< overrides silent; must hold exactly one ipc
  maybe<uid_t> uid{};                          ///< user id of the worker; default: inherit
  maybe<gid_t> gid{};                          ///< group id of the worker; default: inherit
  maybe<InspectPort> inspect_port{};           ///< Node workers: --inspect-port for each fork
  maybe<bool> windows_hide{};                  ///< accepted; nothing to hide on Linux
  maybe<std::size_t> max_frame_bytes{};        ///< largest IPC frame accepted from a worker
  /// Beyond Node: after each message, both ends of a worker's channel poll without sleeping for
  /// this many microseconds, so a quick answer costs no wake-up, at the price of CPU while
  /// messages flow. When the worker is this same program (exec_path empty, exec unchanged), its
  /// frames then travel through shared-memory rings instead of the socket, so polling costs no
  /// system call (ping-pong latency about 12x lower). Default 0: off. Above 1000000:
  /// setup_primary throws std::invalid_argument.
  maybe<unsigned> ipc_busy_poll_us{};
  /// Beyond Node: what one worker may cost the primary. A worker that passes one of these bounds
  /// gets an `error` event (errc::limit_exceeded, ERR_CLUSTER_LIMIT_EXCEEDED) and its channel is
  /// closed at once (it sees its disconnect; the primary forgets its servers). 0 means no bound.
  maybe<std::size_t> max_queued_bytes{};        ///< bytes waiting to be written to it; default 64 MiB
  maybe<std::size_t> max_servers_per_worker{};  ///< servers it shares at once; default 256
  maybe<std::size_t> max_held_fds{};            ///< descriptors it sent that no handle claimed; default 128
  /// Beyond Node, sched_rr: a worker that has left a connection unanswered this long is offered
  /// no more until it answers (a stalled worker then holds only what it was sent before). The
  /// connections go to the others. Default 1000 ms; 0 turns it off.
  maybe<unsigned> handoff_timeout_ms{};
  /// Beyond Node, sched_rr: picks the worker for each connection (cluster/scheduler.hpp) on the
  /// servers created after it is set. Default: Scheduler::fair().
  maybe<Scheduler> scheduler{};
};

/// The default max_frame_bytes: 64 MiB.
inline constexpr std::size_t default_max_frame_bytes = std::size_t{64} << 20;
/// The default max_queued_bytes: 64 MiB.
inline constexpr std::size_t default_max_queued_bytes = std::size_t{64} << 20;
/// The default max_servers_per_worker: 256.
inline constexpr std::size_t default_max_servers_per_worker = 256;
/// The default max_held_fds: 128.
inline constexpr std::size_t default_max_held_fds = 128;
/// The default handoff_timeout_ms: 1000.
inline constexpr unsigned default_handoff_timeout_ms = 1000;

}  // namespace cluster
