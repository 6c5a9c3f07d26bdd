// The client side of the control socket: `cppcluster status|reload|scale|stop` send one HTTP
// request over the supervisor's --control Unix socket (admin.hpp serves it) and print the answer.
#pragma once

#include "options.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace cppcluster {

// Runs the control command cmd (status, reload, scale, stop) against o.control and prints the
// answer on stdout. Returns 0 on success; 1, with a message on stderr, when nothing listens on
// the socket, the connection fails or the supervisor refuses (e.g. a reload while stopping).
int control_main(Parsed::Command cmd, const ControlOptions& o);

// The `cppcluster status` table of a /status JSON document: a summary line, then one row a
// worker (id, pid, state, uptime, restarts, connections or "-", RSS, CPU). Throws
// nlohmann::json::exception when the document lacks the fields.
std::string status_table(const nlohmann::json& status);

}  // namespace cppcluster
