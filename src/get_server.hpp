// The worker's side of server sharing (Node child.js: _getServer, shared(), rr(), onconnection):
// the per-tuple index, the queryServer request, the newconn hand-off and the close message.
#pragma once

#include "cluster/message.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace cluster::child {

// The primary's answer to queryServer.
struct ServerReply {
  int err = 0;               // a negative libuv errno, or 0
  std::string key;           // the primary's handle key
  Handle handle;             // the shared socket (sched_none, UDP); empty: round-robin
  Message sockname;          // round-robin TCP: the primary's getsockname(); null otherwise
};

// One server's place in the cluster: the queryServer message it sent, its index in the tuple
// (child.js indexes) and, once answered, the primary's key.
struct ServerSlot {
  Message query;
  std::string indexes_key;
  int index = 0;
  std::string key;
  bool open = true;
};

// What a server does with a newconn: can_accept() decides the reply (sent first, as Node does),
// then take() gets the connection. Round-robin servers get every connection this way; a shared
// socket's server takes them too, as in Node's child.js (sched_reuseport sends it the connections
// left waiting in a departed worker's socket).
struct RrAcceptor {
  std::function<bool()> can_accept;
  std::function<void(Handle&)> take;
};

// Node's _getServer: allocates the index, sends {act:'queryServer', index, data:null, ...options}
// and passes the reply to cb. On a closed channel cb never runs.
std::shared_ptr<ServerSlot> get_server(const Message& options, std::function<void(ServerReply&)> cb);
// Registers the server for slot's key (replaces any other): its newconn acceptor and the close
// the worker's disconnect() runs for it.
void add_server(ServerSlot& slot, RrAcceptor acceptor, std::function<void(std::function<void()>)> close);
// Sends {act:'close', key} once and forgets the key and the index (child.js handle.close()).
void close_server(ServerSlot& slot);
// Sends act 'listening' with the bound port and marks the worker listening (child.js
// obj.once('listening')). Does nothing once the slot is closed.
void send_listening(ServerSlot& slot, int port);

}  // namespace cluster::child
