// Hooks of the worker side that the server-sharing layer fills in.
#pragma once

#include "internal_message.hpp"

#include <functional>
#include <string>

namespace cluster::child {

// A server the worker holds through the primary; disconnect() closes each and waits for it.
struct ServerHandle {
  std::function<void(std::function<void()> done)> close;
};

// Registers a handle under its key (Node child.js's handles map); replaces one with that key.
void add_handle(const std::string& key, ServerHandle h);
// Forgets the handle under key.
void remove_handle(const std::string& key);
// Handles an act the core does not (newconn, from the server-sharing layer).
void set_act_handler(const std::string& act, internal::ActHandler fn);

}  // namespace cluster::child
