// The supervisor's HTTP endpoint (--admin HOST:PORT): /healthz (the supervisor lives), /readyz
// (at least --min-ready workers ready and not draining) and /metrics (Prometheus text format),
// plus /status (the workers as JSON). The same server on a Unix stream socket is the control
// socket (--control PATH), which also takes the POSTs of `cppcluster reload|scale|stop`. One small
// request per connection, answered and closed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace cppcluster {

// An HTTP answer.
struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// A request as the handler sees it: "GET", "/scale", "workers=3".
struct HttpRequest {
  std::string method;
  std::string path;
  std::string query;
};

// A Unix socket path to serve on (mode 0600).
struct UnixPath {
  std::string path;
};

// Answers HTTP requests with handler(request), on a TCP address or a Unix stream socket.
class AdminServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  // Binds host:port (port 0: the kernel picks) and listens on the cluster loop; with
  // inherited_fd >= 0 serves that listening TCP socket instead (handed over by a re-exec, see
  // hand_over()). Throws std::system_error when the address cannot be bound or the socket used.
  AdminServer(const std::string& host, int port, Handler handler, int inherited_fd = -1);
  // Binds a Unix stream socket at path with mode 0600 (a stale socket nobody listens on is
  // replaced) and listens on the cluster loop; the destructor removes it. With inherited_fd >= 0
  // serves that socket, already bound at path, instead (its file kept until the destructor). Throws
  // std::system_error when a supervisor already listens there, the path is not a socket, too
  // long, or cannot be bound.
  AdminServer(const UnixPath& path, Handler handler, int inherited_fd = -1);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  // Closes the listening socket (connections being answered finish).
  ~AdminServer();
  // "http://127.0.0.1:9100", with the port bound, or "unix:/path".
  const std::string& url() const noexcept { return url_; }
  // Stops accepting and returns a copy (close-on-exec) of the listening socket, still listening:
  // connections queue there until the next owner (a re-exec'd image) serves it; those accepted
  // already are still answered, and the destructor leaves a Unix socket's file in place. -1 when
  // the copy cannot be made (nothing changed then). Once only.
  int hand_over();
  // Calls done once no connection accepted by any AdminServer is open (at once when none is);
  // a second call replaces the first's callback, nullptr cancels it.
  static void when_idle(std::function<void()> done);

  // The listening handle and the handler, shared with libuv's callbacks (admin.cpp).
  struct State;

 private:
  void listen_or_throw(int rc, const std::string& what);
  std::shared_ptr<State> state_;
  std::string url_;
  std::string unix_path_;
  bool handed_over_ = false;
};

}  // namespace cppcluster
