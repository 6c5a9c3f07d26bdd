// Node's lib/internal/cluster/utils.js: the NODE_CLUSTER envelope, one seq counter per process,
// and replies matched to requests by ack.
#pragma once

#include "cluster/message.hpp"
#include "cluster/worker.hpp"
#include "ipc/channel.hpp"

#include <functional>

namespace cluster::internal {

// Runs when the peer answers a request: (worker, reply, handle that came with it).
using AckHandler = std::function<void(Worker&, Message&, Handle&)>;
// Handles a NODE_CLUSTER message that is not an awaited reply.
using ActHandler = std::function<void(Worker&, Message&, Handle&)>;

// Node's sendHelper: sends {cmd:'NODE_CLUSTER', ...fields, seq} to w's peer, registering on_ack
// for the reply; written (optional) gets the write's outcome. Fields that already start with cmd
// are sent as they are (no copy). Returns false, sending nothing, when w is not connected.
bool send(Worker& w, Message fields, Handle handle = {}, AckHandler on_ack = {}, ipc::WriteCallback written = {});
// Node's internal(): ignores messages whose cmd is not NODE_CLUSTER; runs the handler waiting on
// msg.ack if one exists for this worker, otherwise onmessage.
void dispatch(Worker& w, Message& msg, Handle& handle, const ActHandler& onmessage);
// Drops the reply handlers still waiting on w (it is gone; they would never run).
void forget(const Worker& w);

}  // namespace cluster::internal
