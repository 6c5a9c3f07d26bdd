// `cppcluster run`: the supervisor. It binds the listen addresses, runs PROGRAM as a
// cluster::Pool of workers (each started through the exec shim, exec_shim.hpp), follows each
// worker's readiness (exec, sd_notify or a delay), prefixes their output, and maps the
// operator's signals onto the pool: HUP reload, TERM/INT graceful stop, QUIT immediate stop,
// TTIN/TTOU one worker more or less.
#pragma once

#include "options.hpp"

namespace cppcluster {

// Runs the pool until a stop signal or a crash loop; returns the process's exit code (0 after
// a stop signal, 1 when an address cannot be bound or the workers crash-loop).
int run_supervisor(const RunOptions& options);

}  // namespace cppcluster
