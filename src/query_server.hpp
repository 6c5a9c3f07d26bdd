// The primary's side of server sharing (Node primary.js: queryServer, close,
// removeHandlesForWorker and the handles map of RoundRobinHandle/SharedHandle by key).
#pragma once

namespace cluster::primary {

// Registers the queryServer and close acts and the handle hooks with the primary; idempotent.
// Called by setup_primary(), so it is in place before the first worker exists.
void install_server_sharing();

}  // namespace cluster::primary
