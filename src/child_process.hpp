// Node's child_process.fork() as the cluster primary needs it: spawn with an IPC channel at the
// stdio index of the 'ipc' entry, NODE_CHANNEL_FD and NODE_CHANNEL_SERIALIZATION_MODE set.
#pragma once

#include "cluster/child_process.hpp"
#include "cluster/settings.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cluster {

namespace ipc { class Target; }

struct SpawnOptions {
  std::string file;                // the executable, looked up in PATH when it has no slash
  std::vector<std::string> args;   // argv, args[0] included
  std::vector<std::string> env;    // "KEY=value" entries
  std::optional<std::string> cwd;
  std::vector<Stdio> stdio;        // must hold exactly one Stdio::ipc
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  bool windows_hide = false;
  Serialization serialization = Serialization::json;
  std::size_t max_frame = default_max_frame_bytes;
  unsigned busy_poll_us = 0;  // Channel::set_busy_poll on the parent's end
  std::size_t max_queued_bytes = 0;  // Target::set_max_queued_bytes on the parent's end (0: none)
  std::size_t max_held_fds = 0;      // Channel::set_max_held_fds on the parent's end (0: none)
  bool rings = false;         // with busy_poll_us: frames through shared memory (the child is us)
};

namespace detail {

struct ChildProcessAccess {
  // Starts the process. Validation errors throw std::invalid_argument; a failed exec is reported
  // on a later tick through the process's error event, with pid() == 0 and exit_code() < 0.
  static std::unique_ptr<ChildProcess> spawn(const SpawnOptions& options);
  // The IPC channel's sender/receiver; nullptr if no channel could be made.
  static ipc::Target* target(ChildProcess& p);
  // Where NODE_* internal messages go (Node's 'internalMessage' event).
  static void on_internal(ChildProcess& p, std::function<void(Message&&, Handle&)> fn);
};

}  // namespace detail
}  // namespace cluster
