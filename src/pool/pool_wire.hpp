// The pool's two plain messages. They are ordinary user-level messages (no NODE_ prefix), so a
// Node worker can send the first with process.send() and sees the second as a 'message'.
//
// Heartbeats are internal instead, {"cmd":"NODE_CLUSTER","act":"cppclusterHeartbeat","seq":n}
// both ways, so no user listener ever sees them:
//   1. A pool with heartbeats on forks with CPPCLUSTER_HEARTBEAT=1 in the environment.
//   2. A C++ worker that finds it (and removes it, as Node removes NODE_CHANNEL_FD) sends the act
//      once, right after online and before any user code runs: "I answer heartbeats". A worker
//      that blocks its loop at once is therefore still known to answer.
//   3. The pool pings with the act; the worker's library answers it with the act from its loop.
// A Node worker never sends it (the pool never pings it); its child.js onmessage would ignore the
// act anyway. A Node primary never sets the variable, and its primary.js onmessage looks the act
// up in methodMessageMapping, finds nothing and neither replies nor fails. The name is not an
// Object.prototype key (that lookup would find "toString").
#pragma once

#include "cluster/message.hpp"

#include <string_view>

namespace cluster::pool_wire {

// Worker → primary: {"cmd":"CPPCLUSTER_READY"}, the worker is ready to serve.
inline constexpr std::string_view ready_cmd = "CPPCLUSTER_READY";
// Primary → worker: {"cmd":"CPPCLUSTER_RETIRING"}, sent just before worker.disconnect().
inline constexpr std::string_view retiring_cmd = "CPPCLUSTER_RETIRING";

// Both ways, internal: a heartbeat ping (primary) or its answer / announcement (worker).
inline constexpr const char* heartbeat_act = "cppclusterHeartbeat";
// Set to "1" in a pool worker's environment when the pool pings.
inline constexpr const char* env_heartbeat = "CPPCLUSTER_HEARTBEAT";

// True when m is {"cmd": cmd, ...}.
inline bool is_cmd(const Message& m, std::string_view cmd) {
  if (!m.is_object()) return false;
  auto it = m.find("cmd");
  return it != m.end() && it->is_string() && it->template get_ref<const std::string&>() == cmd;
}
// True for the retiring message.
inline bool is_retiring(const Message& m) { return is_cmd(m, retiring_cmd); }
// True for the ready message.
inline bool is_ready(const Message& m) { return is_cmd(m, ready_cmd); }

}  // namespace cluster::pool_wire
