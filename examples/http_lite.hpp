// A tiny HTTP/1.1 server on cluster::net::Server, parsed with http_parser (Debian's
// libhttp-parser): enough for the examples and benchmarks, not part of the library.
// Keep-alive is on by default; an idle keep-alive connection is closed after 5 s (Node's
// server.keepAliveTimeout), and every response after the server stopped listening says
// "Connection: close", so a worker's graceful disconnect finishes.
#pragma once

#include <cluster/net.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace http_lite {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string url;
  Headers headers;
  std::string body;
};

// Collects one response; end() sends it (status line, headers, Content-Length, body).
class Response {
 public:
  // Adds a response header.
  void set_header(std::string name, std::string value) { headers_.emplace_back(std::move(name), std::move(value)); }
  // Sets the status code (default 200).
  void status(int code) { status_ = code; }
  // Sends the response; only the first call counts.
  void end(std::string_view body = {});

 private:
  friend struct Connection;
  struct Connection* conn_ = nullptr;
  int status_ = 200;
  Headers headers_;
  bool ended_ = false;
};

// Called once per request; it must call res.end() before it returns.
using Handler = std::function<void(const Request&, Response&)>;

// Serves HTTP on every connection server accepts.
void serve(const std::shared_ptr<cluster::net::Server>& server, Handler handler);

// Closes the server's connections that wait idle between keep-alive requests, and makes every
// later response say "Connection: close" (Node's server.closeIdleConnections(), plus the drain a
// retiring worker wants). Does nothing for a server serve() was not called on.
void close_idle_connections(const cluster::net::Server& server);

// What a retiring worker does: every later response says "Connection: close", and a connection
// that stays idle for idle_grace is closed. Unlike close_idle_connections(), a connection idle
// only for the moment between a response and the client's next request is not cut: that
// request is answered (with "Connection: close"), so a client under load loses none.
void drain(const cluster::net::Server& server, std::chrono::milliseconds idle_grace = std::chrono::milliseconds(200));

// A new net::Server serving HTTP with handler (Node's http.createServer).
inline std::shared_ptr<cluster::net::Server> create_server(Handler handler) {
  auto server = cluster::net::create_server();
  serve(server, std::move(handler));
  return server;
}

}  // namespace http_lite
