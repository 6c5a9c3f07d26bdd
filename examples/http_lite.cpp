#include "http_lite.hpp"

#include <cluster/cluster.hpp>
#include <http_parser.h>

#include <chrono>
#include <cstring>
#include <map>

namespace http_lite {

constexpr std::chrono::milliseconds keep_alive_timeout{5000};

struct Connection;

// A server's open connections and whether it is draining (close_idle_connections() was called).
struct ServerState {
  std::map<Connection*, std::weak_ptr<Connection>> open;
  bool draining = false;
};

// One connection's parser state. The socket's data listener owns it.
struct Connection {
  cluster::net::Socket* socket = nullptr;
  std::weak_ptr<cluster::net::Server> server;
  Handler handler;
  http_parser parser{};
  Request req;
  std::string field;
  bool in_value = false;
  bool keep_alive = true;
  bool in_request = false;
  int served = 0;  // responses sent: a fresh connection's first request may still be on its way
  std::shared_ptr<ServerState> state;
  cluster::Timer timer;  // the keep-alive timeout while idle

  void idle() {
    in_request = false;
    ++served;
    timer.refresh();
  }
  void busy() {
    in_request = true;
    timer.cancel();
  }
  // Runs the handler for the parsed request; sends an empty 200 if it did not answer.
  void respond() {
    Response res;
    res.conn_ = this;
    handler(req, res);
    if (!res.ended_) res.end();
  }
  void closed() {
    socket = nullptr;
    timer.cancel();
    state->open.erase(this);
  }
};

std::map<const cluster::net::Server*, std::shared_ptr<ServerState>>& states() {
  static std::map<const cluster::net::Server*, std::shared_ptr<ServerState>> m;
  return m;
}

namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Unknown";
  }
}

Connection* conn_of(http_parser* p) { return static_cast<Connection*>(p->data); }

int on_message_begin(http_parser* p) {
  Connection* c = conn_of(p);
  c->req = Request{};
  c->field.clear();
  c->in_value = false;
  c->busy();
  return 0;
}

int on_url(http_parser* p, const char* at, size_t n) {
  conn_of(p)->req.url.append(at, n);
  return 0;
}

int on_header_field(http_parser* p, const char* at, size_t n) {
  Connection* c = conn_of(p);
  if (c->in_value) {
    c->field.clear();
    c->in_value = false;
  }
  c->field.append(at, n);
  return 0;
}

int on_header_value(http_parser* p, const char* at, size_t n) {
  Connection* c = conn_of(p);
  if (!c->in_value) {
    c->req.headers.emplace_back(c->field, std::string());
    c->in_value = true;
  }
  c->req.headers.back().second.append(at, n);
  return 0;
}

int on_body(http_parser* p, const char* at, size_t n) {
  conn_of(p)->req.body.append(at, n);
  return 0;
}

int on_message_complete(http_parser* p) {
  Connection* c = conn_of(p);
  c->req.method = http_method_str(static_cast<http_method>(p->method));
  auto srv = c->server.lock();
  c->keep_alive = http_should_keep_alive(p) != 0 && srv && srv->listening() && !c->state->draining;
  c->respond();
  if (!c->keep_alive) return -1;  // stop parsing: the connection is ending
  c->idle();
  return 0;
}

const http_parser_settings& settings() {
  static const http_parser_settings s = [] {
    http_parser_settings s{};
    http_parser_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return s;
}

}  // namespace

void Response::end(std::string_view body) {
  if (ended_ || !conn_ || !conn_->socket) return;
  ended_ = true;
  std::string out;
  out.reserve(128 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status_);
  out += ' ';
  out += reason(status_);
  out += "\r\n";
  for (const auto& [k, v] : headers_) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += conn_->keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  out += body;
  if (conn_->keep_alive) {
    conn_->socket->write(out);
  } else {
    conn_->socket->end(out);
  }
}

void serve(const std::shared_ptr<cluster::net::Server>& server, Handler handler) {
  std::weak_ptr<cluster::net::Server> weak = server;
  auto state = std::make_shared<ServerState>();
  states()[server.get()] = state;
  server->on(cluster::ev::close, [raw = server.get()] { states().erase(raw); });
  server->on(cluster::ev::connection, [weak, handler, state](const std::shared_ptr<cluster::net::Socket>& s) {
    auto c = std::make_shared<Connection>();
    c->socket = s.get();
    c->server = weak;
    c->handler = handler;
    c->state = state;
    state->open[c.get()] = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c.get();
    // Cancelled when the connection closes, so the raw pointer never outlives it.
    c->timer = cluster::set_timeout([raw = c.get()] {
      if (raw->socket) raw->socket->destroy();
    }, keep_alive_timeout);
    s->set_no_delay(true);
    s->on(cluster::ev::data, [c](std::string_view bytes) {
      if (!c->socket) return;
      size_t n = http_parser_execute(&c->parser, &settings(), bytes.data(), bytes.size());
      if (c->parser.http_errno == HPE_CB_message_complete) return;  // ending after a response
      if (c->parser.upgrade || n != bytes.size() || c->parser.http_errno != HPE_OK) {
        c->socket->end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      }
    });
    s->on(cluster::ev::close, [c] { c->closed(); });
  });
}

namespace {

// Marks server's connections draining and calls fn on each that waits idle between requests
// (or for its first one); returns false for a server serve() was not called on.
template <typename Fn>
void for_each_idle(const cluster::net::Server& server, Fn fn) {
  auto it = states().find(&server);
  if (it == states().end()) return;
  auto state = it->second;
  state->draining = true;
  auto open = state->open;  // destroy() may close at once, which edits the map
  for (auto& [raw, weak] : open) {
    auto c = weak.lock();
    if (c && c->socket && !c->in_request) fn(*c);
  }
}

}  // namespace

void close_idle_connections(const cluster::net::Server& server) {
  for_each_idle(server, [](Connection& c) {
    if (c.served > 0) c.socket->destroy();
  });
}

void drain(const cluster::net::Server& server, std::chrono::milliseconds idle_grace) {
  for_each_idle(server, [idle_grace](Connection& c) {
    c.timer.cancel();
    // Cancelled when the connection closes (closed()), so the raw pointer never outlives it; a
    // request arriving meanwhile cancels it too (busy()) and is answered with Connection: close.
    c.timer = cluster::set_timeout([raw = &c] {
      if (raw->socket) raw->socket->destroy();
    }, idle_grace);
  });
}

}  // namespace http_lite
