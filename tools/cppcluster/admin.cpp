#include "admin.hpp"

#include "cluster/cluster.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <fcntl.h>

#include <cerrno>
#include <functional>
#include <system_error>
#include <utility>

namespace cppcluster {
namespace {

constexpr std::size_t max_request = 8192;

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A TCP or a Unix stream handle: the connections and the server are one or the other.
union StreamHandle {
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

uv_stream_t* stream(StreamHandle& h) { return reinterpret_cast<uv_stream_t*>(&h); }

struct Conn {
  StreamHandle h{};
  std::string in;
  std::string out;
  uv_write_t write{};
  bool answered = false;
  std::weak_ptr<void> owner;
  AdminServer::Handler handler;
};

// The connections open on every AdminServer, and who waits for there to be none (when_idle).
int open_conns = 0;
std::function<void()> on_idle;

void close_conn(Conn* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->h), [](uv_handle_t* h) {
    delete static_cast<Conn*>(h->data);
    if (--open_conns == 0 && on_idle) std::exchange(on_idle, nullptr)();
  });
}

void answer(Conn* c) {
  c->answered = true;
  uv_read_stop(stream(c->h));
  HttpReply r;
  const auto line_end = c->in.find("\r\n");
  const std::string line = c->in.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  const std::string method = line.substr(0, sp1);
  HttpRequest req{method == "HEAD" ? "GET" : method, sp1 == std::string::npos ? "/" : line.substr(sp1 + 1, sp2 - sp1 - 1), ""};
  if (auto q = req.path.find('?'); q != std::string::npos) {
    req.query = req.path.substr(q + 1);
    req.path.resize(q);
  }
  if (c->handler) r = c->handler(req);
  c->out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\nContent-Type: " +
           r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
           "\r\nConnection: close\r\n\r\n" + (method == "HEAD" ? std::string() : r.body);
  uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write.data = c;
  if (uv_write(&c->write, stream(c->h), &buf, 1,
               [](uv_write_t* w, int) { close_conn(static_cast<Conn*>(w->data)); }) != 0) {
    close_conn(c);
  }
}

}  // namespace

struct AdminServer::State {
  StreamHandle server{};
  Handler handler;
};

namespace {

void on_connection(uv_stream_t* s, int status) {
  if (status < 0) return;
  auto& st = **static_cast<std::shared_ptr<AdminServer::State>*>(s->data);
  auto* c = new Conn;
  ++open_conns;
  c->handler = st.handler;
  if (s->type == UV_NAMED_PIPE) {
    uv_pipe_init(cluster::loop(), &c->h.pipe, 0);
  } else {
    uv_tcp_init(cluster::loop(), &c->h.tcp);
  }
  c->h.tcp.data = c;  // data is the first member of every handle
  if (uv_accept(s, stream(c->h)) != 0) return close_conn(c);
  uv_read_start(
      stream(c->h),
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
}

void close_server(uv_handle_t* h) {
  uv_close(h, [](uv_handle_t* x) { delete static_cast<std::shared_ptr<AdminServer::State>*>(x->data); });
}

// True when something accepts connections on the Unix socket at path.
bool someone_listens(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A Unix stream socket bound at path, mode 0600 (a stale socket nobody listens on is replaced).
// Bound here rather than by uv_pipe_bind: libuv removes the file of a pipe it bound when the
// handle closes, and a re-exec hands the socket over with its file (hand_over()). Throws
// std::system_error starting with what.
int bind_unix(const std::string& path, const std::string& what) {
  struct stat sb{};
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) throw std::system_error(EEXIST, std::generic_category(), what + ": not a socket");
    if (someone_listens(path)) {
      throw std::system_error(EADDRINUSE, std::generic_category(), what + ": another supervisor listens there");
    }
    ::unlink(path.c_str());  // stale: left by a supervisor that was killed
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), what);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, sizeof a.sun_path - 1);
  // Created 0600 (no moment when another user could connect), then made sure of.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  const int err = errno;
  ::umask(old);
  if (rc != 0) {
    ::close(fd);
    throw std::system_error(err, std::generic_category(), what);
  }
  ::chmod(path.c_str(), 0600);
  return fd;
}

}  // namespace

void AdminServer::listen_or_throw(int rc, const std::string& what) {
  if (rc == 0) rc = uv_listen(stream(state_->server), 128, on_connection);
  if (rc != 0) {
    close_server(reinterpret_cast<uv_handle_t*>(&state_->server));
    throw std::system_error(-rc, std::generic_category(), what);
  }
}

AdminServer::AdminServer(const std::string& host, int port, Handler handler, int inherited_fd)
    : state_(std::make_shared<State>()) {
  state_->handler = std::move(handler);
  sockaddr_storage ss{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) throw std::system_error(EINVAL, std::generic_category(), "--admin " + host + ": not an IP address");
  uv_tcp_init(cluster::loop(), &state_->server.tcp);
  // The handle is freed by its close callback, which holds the last reference.
  state_->server.tcp.data = new std::shared_ptr<State>(state_);
  listen_or_throw(inherited_fd >= 0 ? uv_tcp_open(&state_->server.tcp, inherited_fd)
                                    : uv_tcp_bind(&state_->server.tcp, reinterpret_cast<sockaddr*>(&ss), 0),
                  "cannot listen on --admin " + host + ":" + std::to_string(port));
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&state_->server.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
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

AdminServer::AdminServer(const UnixPath& where, Handler handler, int inherited_fd) : state_(std::make_shared<State>()) {
  const std::string& path = where.path;
  const std::string what = "cannot listen on --control " + path;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(), what + " (at most 107 bytes)");
  }
  const int fd = inherited_fd >= 0 ? inherited_fd : bind_unix(path, what);
  state_->handler = std::move(handler);
  uv_pipe_init(cluster::loop(), &state_->server.pipe, 0);
  state_->server.pipe.data = new std::shared_ptr<State>(state_);
  try {
    listen_or_throw(uv_pipe_open(&state_->server.pipe, fd), what);
  } catch (const std::system_error&) {
    if (inherited_fd < 0) ::unlink(path.c_str());
    throw;
  }
  unix_path_ = path;  // removed by the destructor (libuv did not bind it: it would not)
  url_ = "unix:" + path;
}

AdminServer::~AdminServer() {
  state_->handler = nullptr;
  if (!handed_over_) close_server(reinterpret_cast<uv_handle_t*>(&state_->server));
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

int AdminServer::hand_over() {
  uv_os_fd_t fd = -1;
  if (handed_over_ || uv_fileno(reinterpret_cast<uv_handle_t*>(&state_->server), &fd) != 0) return -1;
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) return -1;
  // The copy keeps the socket listening: connections wait in its queue, none is refused.
  handed_over_ = true;
  close_server(reinterpret_cast<uv_handle_t*>(&state_->server));
  unix_path_.clear();
  return copy;
}

void AdminServer::when_idle(std::function<void()> done) {
  if (done && open_conns == 0) {
    on_idle = nullptr;
    done();
    return;
  }
  on_idle = std::move(done);
}

}  // namespace cppcluster
