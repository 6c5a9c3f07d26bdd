// `cppcluster run --mode cluster`: PROGRAM links the library (a C++ program) or is a Node program
// using `cluster`, and joins the pool as a real cluster worker: forked with NODE_UNIQUE_ID and the
// IPC channel (NODE_CHANNEL_FD), as cluster::fork() forks the library's own workers. The
// supervisor is its primary: the worker's listen() asks it for the server (queryServer), it binds
// the address at the first worker's request and hands connections round-robin (or, with
// --reuseport, gives each worker its own SO_REUSEPORT socket: sched_reuseport); the pool counts a
// worker ready once it listens, retires it with disconnect() (its servers close, then it exits)
// and, for a C++ worker, checks its loop with heartbeats.
//
// The addresses come from the workers' listen() calls, not from --listen: a primary binds what
// its workers ask for, which is how Node's cluster is used, and a second, pre-bound socket on the
// same address would only conflict with the one the primary binds. The supervisor holds every
// server it bound while it runs (cluster::hold_servers()), so a reload of all workers at once or
// a crash loop never closes the port.
#pragma once

#include "options.hpp"

#include "cluster/pool.hpp"

namespace cppcluster {

// The scheduling policy for o (sched_reuseport with --reuseport, else round robin). Call before
// the first cluster::setup_primary(); throws std::logic_error after it.
void set_cluster_mode_policy(const RunOptions& o);

// Forks PROGRAM itself as the workers (stdout and stderr piped for the line prefixes), makes the
// pool count listening as ready, retire by disconnect and heartbeat C++ workers (every 5 s; one
// silent for 60 s is killed and replaced), logs each worker's listening address, and keeps the
// servers open while the supervisor runs. Call after the supervisor's own setup_primary() and
// before the pool is made.
void setup_cluster_mode(const RunOptions& o, cluster::PoolOptions& po);

}  // namespace cppcluster
