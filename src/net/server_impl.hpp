// The libuv side of net::Server, shared by server.cpp (local listening, accepting, closing) and
// listen_in_cluster.cpp (Node's listenInCluster: the worker's round-robin or shared server).
#pragma once

#include "get_server.hpp"
#include "net/sockaddr.hpp"
#include "net/socket_impl.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cluster::net {

struct Server::Private {};
struct OpenConnection::Private {};

struct Server::Impl {
  enum class Mode { none, local, shared, rr };

  Server* owner = nullptr;
  Mode mode = Mode::none;
  std::optional<uv::Handle<AnyStream>> h;       // local and shared: the listening socket
  DescriptorListener on_fd;                      // on_descriptor(): raw descriptors, no Sockets
  std::optional<uv::Handle<uv_poll_t>> accept_poll;   // with on_fd: watches h's fd, accept4 here
  std::optional<uv::Handle<uv_timer_t>> accept_pause; // with on_fd: out of descriptors, retry later
  AddressType fd_type = AddressType::tcp4;       // with on_fd, listening here: the address's kind
  bool pipe = false;
  std::optional<uv::Handle<uv_async_t>> rr_ref;  // rr: keeps the loop alive (Node's faux handle's interval)
  bool reffed = true;
  std::shared_ptr<Server> self;    // the loop's reference while listening
  bool pending = false;            // listen() called, not yet listening or failed
  bool closing = false;
  int listening_id = 0;            // Node's _listeningId: a close() voids a pending listen
  std::size_t connections = 0;
  std::optional<std::size_t> max_connections;
  std::vector<std::function<void(std::error_code)>> close_cbs;
  std::shared_ptr<child::ServerSlot> slot;
  std::optional<Address> rr_address;
  std::string connection_key;
  std::string unlink_path;         // a Unix socket this process bound, removed on close

  bool at_limit() const { return max_connections && connections >= *max_connections; }
  void attach(const std::shared_ptr<Socket>& s);
  // Accepting failed (a libuv error): the error event, when it has a listener (as Node).
  void accept_failed(int status);
  // Listens on fd (always taken: closed on failure) with a libuv handle.
  int start_handle(int fd, int backlog, Mode m);
  // With on_fd: listens on h's fd and watches it with accept_poll instead of uv_listen.
  int start_accept_poll(int fd, int backlog);
  // With on_fd: accepts what is pending (bounded) and hands each descriptor to on_fd.
  void accept_pending();
  // Out of descriptors: stops watching the listening socket for out_of_descriptors_pause_ms.
  void pause_accepting();
  // Hands a handed-over connection's descriptor to on_fd (its kind from the primary's address);
  // counted: the primary counts it open until its OpenConnection goes.
  void give_descriptor(int fd, bool counted);
  // With on_fd: stops watching the listening socket (before h is closed).
  void stop_accepting();
  static void on_acceptable(uv_poll_t* p, int status, int events);
  int fd() const;
  void listen_in_cluster(Message fields, const detail::ServerSpec& spec, bool exclusive);
  void listen_local(const detail::ServerSpec& spec, bool own_fd);
  void on_reply(child::ServerReply& r, const detail::ServerSpec& spec);
  void became_listening();
  void fail(int err, const char* syscall, const detail::ServerSpec& spec);
  void emit_close_if_drained();
};

// "host:port", "path" or "fd N" for error messages.
std::string describe(const detail::ServerSpec& spec);

}  // namespace cluster::net
