// The libuv side of net::Socket, shared with net::Server (which creates accepted sockets).
#pragma once

#include "cluster/net.hpp"
#include "uv/handle.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cluster::net {

// A TCP or Unix stream handle: both are uv_stream_t, one allocation either way.
union AnyStream {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

struct Socket::Private {};

struct Socket::Impl {
  Socket* owner = nullptr;
  uv::Handle<AnyStream> h;
  bool pipe = false;
  // The loop's reference: an open socket stays alive until it closes, as in Node.
  std::shared_ptr<Socket> self;
  bool connecting = false;
  bool reading = false;
  bool paused = false;
  bool read_ended = false;
  bool ending = false;
  bool shut = false;
  bool destroyed = false;
  bool need_drain = false;
  bool end_after_connect = false;
  std::size_t pending_bytes = 0;
  std::vector<std::pair<std::string, WriteCallback>> pending;  // writes made before connect
  std::optional<std::string> key;  // the server's connection key, sent with to_handle()
  std::function<void()> on_close;  // the server's connection count

  uv_stream_t* stream() const { return &h.get()->stream; }
  // Creates a socket whose handle is initialised for TCP or a Unix socket.
  static std::shared_ptr<Socket> make(bool pipe);
  // Wraps a connected stream descriptor (taken) and starts reading; nullptr with *err set when
  // libuv refuses it.
  static std::shared_ptr<Socket> adopt(int fd, bool pipe, int* err);
  // Accepts a pending connection of a listening libuv stream and starts reading.
  static std::shared_ptr<Socket> accept_from(uv_stream_t* server, bool pipe, int* err);

  void start_reading();
  void on_eof();
  void fail(int status, const char* syscall);
  void finish(std::optional<std::system_error> err);
  bool write_now(std::string_view data, WriteCallback cb);
  void shutdown_now();
};

}  // namespace cluster::net
