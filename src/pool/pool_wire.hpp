// The pool's two plain messages. They are ordinary user-level messages (no NODE_ prefix), so a
// Node worker can send the first with process.send() and sees the second as a 'message'.
#pragma once

#include "cluster/message.hpp"

#include <string_view>

namespace cluster::pool_wire {

// Worker → primary: {"cmd":"CPPCLUSTER_READY"}, the worker is ready to serve.
inline constexpr std::string_view ready_cmd = "CPPCLUSTER_READY";
// Primary → worker: {"cmd":"CPPCLUSTER_RETIRING"}, sent just before worker.disconnect().
inline constexpr std::string_view retiring_cmd = "CPPCLUSTER_RETIRING";

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
