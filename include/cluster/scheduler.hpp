/// @file
/// Beyond Node, sched_rr: which worker gets each connection the primary accepts.
///
/// Under sched_rr the primary accepts every connection and hands it to a worker (newconn). A
/// Scheduler picks that worker from what the primary knows: the server, the client's address (only
/// when the scheduler asks for it: accept4 then returns it, no extra system call), and for each
/// candidate (a worker sharing the server, joined and not paused) its offers, the connections it was
/// sent and has not answered yet, and the connections it holds open (reported by C++ workers;
/// unknown for others).
/// Set one with Settings::scheduler; it applies to the servers created after.
///
/// Built in:
/// - fair() (the default): fewest offers among the workers with room, as without a scheduler.
/// - least_connections(): fewest open + unanswered connections; when a candidate does not report
///   its closes (a Node worker), every candidate is compared by unanswered + offered instead.
/// - sticky(): the client's IP address picks the worker by rendezvous (highest random weight)
///   hashing over the candidates' ids, so adding or removing a worker moves only the clients that
///   hash to it (about 1/n of them), and a reload (new ids) moves everyone once.
///
/// Room: a worker may have `window` (8) connections awaiting its answer. A scheduler that picks a
/// worker without room makes the connection wait for that worker, up to the hand-off deadline
/// (Settings::handoff_timeout_ms, default 1 s; 1 s when that is off), then it goes to the fair
/// choice. A worker past the deadline (stalled), paused, or gone is never waited for: its
/// connections go to the fair choice at once. For sticky sessions this means a busy worker keeps its
/// clients through a burst, while a stalled or departed worker's clients move. Measured with
/// bench/conn_client (50 connections at a time from 64 or 8 addresses, 2 workers, 5 s): 38-47% of
/// sticky picks found the chosen worker's window full and waited, none past the bound; falling back
/// at once would have sent all of those clients to the other worker. Picking -1 (or an id that is not a candidate) is the
/// fair choice too. Whatever is picked, a worker that refuses a connection or dies before answering
/// has it handed to another worker, as without a scheduler.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cluster {

class Worker;

/// The server a connection arrived on.
struct ServerInfo {
  std::string_view key;      ///< the primary's handle key (address:port:addressType:fd:index, as Node's)
  std::string_view address;  ///< the address the server listens on ("" for any, a path for a Unix socket)
  int port = 0;              ///< the bound port (-1 for a Unix socket or an inherited descriptor)
};

/// A worker that may get the connection.
struct Candidate {
  int id = 0;                   ///< Worker::id()
  std::uint64_t offered = 0;    ///< connections offered on this server (counted level when it joined)
  std::uint32_t in_flight = 0;  ///< connections sent on this server and not yet answered
  std::int64_t open = -1;       ///< connections it holds open over all servers; -1: it does not report
  std::uint64_t last_offer = 0; ///< the order of its last offer: lower has waited longer
  bool ready = false;           ///< it has room now (below the window, not past the deadline)
};

/// What a scheduler sees for one connection. Valid only during the call.
struct Pick {
  const ServerInfo& server;  ///< the server the connection arrived on
  /// The client's address; nullptr unless the scheduler asked for it (or getpeername failed).
  const sockaddr* peer;
  socklen_t peer_len;  ///< the length of *peer (0 when peer is nullptr)
  std::span<const Candidate> candidates;  ///< ordered by id; never empty
};

/// Picks the worker for each connection under sched_rr (see this file's description); set one
/// with Settings::scheduler.
class Scheduler {
 public:
  /// Returns the chosen candidate's id, or -1 for the fair choice. Must not throw.
  using PickFn = std::function<int(const Pick&)>;
  /// Whether the pick needs the client's address.
  enum class Needs { nothing, peer_address };

  /// A scheduler calling pick for each connection; throws std::invalid_argument if pick is empty.
  Scheduler(std::string name, PickFn pick, Needs needs = Needs::nothing);

  /// Today's fair round robin (the default): never fails.
  static Scheduler fair();
  /// Fewest open + in-flight connections (see above); never fails.
  static Scheduler least_connections();
  /// Client IP affinity by rendezvous hashing (see above); never fails.
  static Scheduler sticky();

  /// Picks a worker for one connection (calls the pick function).
  int pick(const Pick& p) const { return pick_(p); }
  /// The name given (fair, least_connections, sticky for the built-ins).
  const std::string& name() const noexcept { return name_; }
  /// Whether the client's address is fetched for each connection.
  Needs needs() const noexcept { return needs_; }

  /// Which built-in this is (the primary runs the fair one without calling through pick).
  enum class Kind { custom, fair, least_connections, sticky };
  /// Which built-in this is; Kind::custom for one made with the constructor.
  Kind kind() const noexcept { return kind_; }

 private:
  Scheduler(Kind kind, std::string name, PickFn pick, Needs needs);

  Kind kind_ = Kind::custom;
  std::string name_;
  PickFn pick_;
  Needs needs_ = Needs::nothing;
};

/// The rendezvous weight of the client address bytes for a worker id: sticky() picks the candidate
/// with the highest weight. Exposed for schedulers that combine stickiness with other rules.
std::uint64_t rendezvous_weight(std::uint64_t address_hash, int worker) noexcept;
/// A 64-bit hash of the IP address in peer (port ignored; a Unix socket's path); 0 for nullptr.
std::uint64_t address_hash(const sockaddr* peer, socklen_t len) noexcept;

/// A worker's hand-off connections (sched_rr, and under sched_reuseport those the primary took
/// from a stalled worker's queue and handed to it), summed over every server it shares (primary
/// only).
struct ConnectionStats {
  std::uint64_t handed_off = 0;  ///< connections it accepted by hand-off, in total
  std::uint64_t in_flight = 0;   ///< connections sent to it and not yet answered
  /// Connections it accepted by hand-off and has not closed yet; empty when it does not report
  /// closes (a Node worker) or has left.
  std::optional<std::uint64_t> open;
};

/// The worker's figures, from counters (no system call). Throws std::logic_error in a worker.
ConnectionStats connection_stats(const Worker& w);

}  // namespace cluster
