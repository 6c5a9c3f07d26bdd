/// @file
/// Signal listeners on the process's loop: Node's process.on('SIGHUP', fn) / process.off.
#pragma once

#include "cluster/emitter.hpp"

#include <functional>

namespace cluster {

/// Whether a signal listener keeps the loop alive. Node's do not (its signal handles are unref'd:
/// a program whose only pending thing is process.on('SIGHUP') ends), so no is the default.
enum class KeepAlive { no, yes };

/// Calls fn(signum) on the loop each time sig arrives, after the listeners added before it.
/// Several listeners may share a signal; the signal is caught while any remains. Throws
/// std::invalid_argument for a signal that cannot be caught (SIGKILL, SIGSTOP, out of range) and
/// std::logic_error for an empty fn.
listener_id on_signal(int sig, std::function<void(int)> fn, KeepAlive keep = KeepAlive::no);
/// Removes a listener added by on_signal; the signal gets its default disposition back when its
/// last listener goes. False if id is not a signal listener.
bool off_signal(listener_id id);

}  // namespace cluster
