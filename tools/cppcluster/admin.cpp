#include "admin.hpp"

#include "cluster/cluster.hpp"

#include <arpa/inet.h>
#include <uv.h>

#include <system_error>

namespace cppcluster {
namespace {

constexpr std::size_t max_request = 8192;

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

struct Conn {
  uv_tcp_t tcp{};
  std::string in;
  std::string out;
  uv_write_t write{};
  bool answered = false;
  std::weak_ptr<void> owner;
  AdminServer::Handler handler;
};

void close_conn(Conn* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

void answer(Conn* c) {
  c->answered = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  HttpReply r;
  const auto line_end = c->in.find("\r\n");
  const std::string line = c->in.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  const std::string method = line.substr(0, sp1);
  std::string path = sp1 == std::string::npos ? "/" : line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  if (method != "GET" && method != "HEAD") {
    r = {405, "text/plain; charset=utf-8", "only GET\n"};
  } else if (c->handler) {
    r = c->handler(path);
  }
  c->out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " +
           r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
           "\r\nConnection: close\r\n\r\n" + (method == "HEAD" ? std::string() : r.body);
  uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write.data = c;
  if (uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
               [](uv_write_t* w, int) { close_conn(static_cast<Conn*>(w->data)); }) != 0) {
    close_conn(c);
  }
}

}  // namespace

struct AdminServer::State {
  uv_tcp_t server{};
  Handler handler;
};

AdminServer::AdminServer(const std::string& host, int port, Handler handler) : state_(std::make_shared<State>()) {
  state_->handler = std::move(handler);
  sockaddr_storage ss{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) throw std::system_error(EINVAL, std::generic_category(), "--admin " + host + ": not an IP address");
  uv_tcp_init(cluster::loop(), &state_->server);
  // The handle is freed by its close callback, which holds the last reference.
  state_->server.data = new std::shared_ptr<State>(state_);
  rc = uv_tcp_bind(&state_->server, reinterpret_cast<sockaddr*>(&ss), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&state_->server), 128, [](uv_stream_t* s, int status) {
      if (status < 0) return;
      auto& st = **static_cast<std::shared_ptr<State>*>(s->data);
      auto* c = new Conn;
      c->handler = st.handler;
      uv_tcp_init(cluster::loop(), &c->tcp);
      c->tcp.data = c;
      if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) return close_conn(c);
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&c->tcp),
          [](uv_handle_t*, size_t, uv_buf_t* b) {
            static char slab[4096];
            *b = uv_buf_init(slab, sizeof slab);
          },
          [](uv_stream_t* st2, ssize_t n, const uv_buf_t* b) {
            auto* cc = static_cast<Conn*>(st2->data);
            if (cc->answered) return;
            if (n < 0) return close_conn(cc);
            cc->in.append(b->base, static_cast<std::size_t>(n));
            if (cc->in.find("\r\n\r\n") != std::string::npos || cc->in.find("\n\n") != std::string::npos) {
              answer(cc);
            } else if (cc->in.size() > max_request) {
              close_conn(cc);
            }
          });
    });
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&state_->server),
             [](uv_handle_t* h) { delete static_cast<std::shared_ptr<State>*>(h->data); });
    throw std::system_error(-rc, std::generic_category(), "cannot listen on --admin " + host + ":" + std::to_string(port));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&state_->server, reinterpret_cast<sockaddr*>(&bound), &len);
  char name[INET6_ADDRSTRLEN] = {};
  int bound_port = 0;
  if (bound.ss_family == AF_INET6) {
    auto& a = reinterpret_cast<sockaddr_in6&>(bound);
    uv_ip6_name(&a, name, sizeof name);
    bound_port = ntohs(a.sin6_port);
    url_ = "http://[" + std::string(name) + "]:" + std::to_string(bound_port);
  } else {
    auto& a = reinterpret_cast<sockaddr_in&>(bound);
    uv_ip4_name(&a, name, sizeof name);
    bound_port = ntohs(a.sin_port);
    url_ = "http://" + std::string(name) + ":" + std::to_string(bound_port);
  }
}

AdminServer::~AdminServer() {
  state_->handler = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&state_->server),
           [](uv_handle_t* h) { delete static_cast<std::shared_ptr<State>*>(h->data); });
}

}  // namespace cppcluster
