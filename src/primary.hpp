// Hooks of the primary that the server-sharing layer fills in.
#pragma once

#include "internal_message.hpp"

#include <functional>
#include <string>

namespace cluster::primary {

// Handles an act the core does not (queryServer and close, from the server-sharing layer).
void set_act_handler(const std::string& act, internal::ActHandler fn);
// Node's removeHandlesForWorker: called when a worker disconnects or dies.
void set_remove_handles(std::function<void(Worker&)> fn);
// True while the primary holds shared server handles (checked when the last worker goes).
void set_handles_open(std::function<bool()> fn);

}  // namespace cluster::primary
