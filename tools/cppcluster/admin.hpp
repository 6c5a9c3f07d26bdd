// The supervisor's HTTP endpoint (--admin HOST:PORT): /healthz (the supervisor lives), /readyz
// (at least --min-ready workers ready and not draining) and /metrics (Prometheus text format),
// plus /status (the workers as JSON). One small request per connection, answered and closed.
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

// Answers GET requests on a TCP address with handler(path); other methods get 405.
class AdminServer {
 public:
  using Handler = std::function<HttpReply(std::string_view path)>;
  // Binds host:port (port 0: the kernel picks) and listens on the cluster loop. Throws
  // std::system_error when the address cannot be bound.
  AdminServer(const std::string& host, int port, Handler handler);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  // Closes the listening socket (connections being answered finish).
  ~AdminServer();
  // "http://127.0.0.1:9100", with the port bound.
  const std::string& url() const noexcept { return url_; }

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::string url_;
};

}  // namespace cppcluster
