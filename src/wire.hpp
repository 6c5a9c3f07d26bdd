// Every string Node puts on the wire, written exactly as Node writes it, in one place.
#pragma once

namespace cluster::wire {

// Environment (lib/internal/child_process.js, lib/internal/cluster/primary.js).
inline constexpr const char* env_unique_id = "NODE_UNIQUE_ID";
// Beyond Node: the worker's busy-poll budget in microseconds (Settings::ipc_busy_poll_us).
inline constexpr const char* env_busy_poll = "CPPCLUSTER_IPC_BUSY_POLL_US";
// Beyond Node: the descriptor of the shared-memory rings (ipc/ring.hpp) a busy-polling worker of
// the same program inherits.
inline constexpr const char* env_ring_fd = "CPPCLUSTER_IPC_RING_FD";
// Beyond Node: a C++ worker's online message says {"pipelinedHandles": true}; a cppcluster
// primary then sends it handles without waiting for each NODE_HANDLE_ACK, several descriptors per
// sendmsg, and marks those NODE_HANDLE frames {"noAck": true}. A Node primary ignores the field.
inline constexpr const char* pipelined_handles = "pipelinedHandles";
inline constexpr const char* no_ack = "noAck";
// Beyond Node: set by a cppcluster primary in its workers' environment; a C++ worker that finds
// it says {"reportsCloses": true} in its online message and reports the newconn connections it
// closes with act cppclusterClosed (scheduler/connection_stats.hpp).
inline constexpr const char* env_report_closes = "CPPCLUSTER_REPORT_CLOSES";
inline constexpr const char* reports_closes = "reportsCloses";
inline constexpr const char* env_channel_fd = "NODE_CHANNEL_FD";
inline constexpr const char* env_serialization = "NODE_CHANNEL_SERIALIZATION_MODE";
inline constexpr const char* env_sched_policy = "NODE_CLUSTER_SCHED_POLICY";

// Handle passing (lib/internal/child_process.js).
inline constexpr const char* node_handle = "NODE_HANDLE";
inline constexpr const char* node_handle_ack = "NODE_HANDLE_ACK";
inline constexpr const char* node_handle_nack = "NODE_HANDLE_NACK";

// Cluster envelope (lib/internal/cluster/utils.js).
inline constexpr const char* node_cluster = "NODE_CLUSTER";

// acts (lib/internal/cluster/primary.js and child.js).
namespace act {
inline constexpr const char* online = "online";
inline constexpr const char* query_server = "queryServer";
inline constexpr const char* listening = "listening";
inline constexpr const char* close = "close";
inline constexpr const char* exited_after_disconnect = "exitedAfterDisconnect";
inline constexpr const char* newconn = "newconn";
inline constexpr const char* disconnect = "disconnect";
// Beyond Node, worker to a cppcluster primary only: {n} newconn connections closed.
inline constexpr const char* closed = "cppclusterClosed";
}  // namespace act

}  // namespace cluster::wire
