// A Boost.Beast HTTP/1.1 server as cluster workers: the primary forks WORKERS workers (default:
// one per CPU) that share PORT (default 8000; 0 picks a free one) through the primary's
// round-robin hand-off. Each worker runs Beast and the cluster on one thread
// (cluster::asio::run) and takes every connection it is handed as a tcp::socket
// (cluster::asio::accept_into); it answers "hello from worker PID", keep-alive included.
// SIGTERM or Ctrl-C: the workers disconnect (idle keep-alive connections are closed, busy ones
// after their response) and everything exits 0.
// WORKERS=0 runs Beast alone in one process, without the cluster (the benchmark's baseline).
// WORK_US=N spends N microseconds of CPU on each request before answering (a stand-in for a
// handler's own work: rendering, parsing, hashing), so that the server, not the load generator,
// is what a benchmark saturates.
#define CPPCLUSTER_ASIO_BOOST 1
#include <cluster/asio.hpp>
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

const std::string body = "hello from worker " + std::to_string(getpid()) + "\n";
const int work_us = env_int("WORK_US", 0);

// Keeps this thread's CPU busy for work_us (a handler's own work, see the file comment).
void work() {
  if (work_us <= 0) return;
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(work_us);
  std::uint64_t h = 1469598103934665603ull;
  volatile std::uint64_t sink = 0;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 64; ++i) h = (h ^ static_cast<std::uint64_t>(i)) * 1099511628211ull;
    sink = h;
  }
  (void)sink;
}

class Session;
std::list<std::weak_ptr<Session>> sessions;  // to close idle keep-alive connections on disconnect
bool draining = false;

// One keep-alive connection: read a request, answer it, again until the client or we close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, cluster::net::OpenConnection open) : stream_(std::move(s)), open_(std::move(open)) {}

  void start() {
    sessions.push_back(weak_from_this());
    at_ = std::prev(sessions.end());
    read();
  }
  ~Session() { sessions.erase(at_); }

  // Closes the connection if it waits for a request with nothing of one read yet.
  void close_if_idle() {
    if (idle_ && buffer_.size() == 0) stream_.socket().close();
  }

 private:
  void read() {
    req_ = {};
    idle_ = true;
    http::async_read(stream_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->idle_ = false;
      if (!ec) self->answer();
    });
  }

  void answer() {
    work();
    res_ = {http::status::ok, req_.version()};
    res_.set(http::field::content_type, "text/plain");
    res_.body() = body;
    res_.keep_alive(req_.keep_alive() && !draining);
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (self->res_.keep_alive()) return self->read();
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  bool idle_ = false;
  std::list<std::weak_ptr<Session>>::iterator at_;
  cluster::net::OpenConnection open_;  // counted open by the primary while this session lives
};

void drain() {
  draining = true;
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->close_if_idle();
  }
}

void run_primary(int workers) {
  std::printf("Primary %d is running\n", static_cast<int>(getpid()));
  cluster::once(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
    std::printf("Listening on port %d\n", a.port);
  });
  cluster::on(cluster::ev::exit, [](cluster::Worker& w, int code, std::string_view signal) {
    std::printf("worker %d exited (%s)\n", w.process().pid(),
                signal.empty() ? std::to_string(code).c_str() : std::string(signal).c_str());
  });
  for (int sig : {SIGINT, SIGTERM}) {
    cluster::on_signal(sig, [](int) {
      std::printf("Primary %d: disconnecting the workers\n", static_cast<int>(getpid()));
      cluster::disconnect();
    });
  }
  for (int i = 0; i < workers; ++i) cluster::fork();
  cluster::run();
}

void run_worker(asio::io_context& io) {
  // Ctrl-C reaches the whole process group: the primary decides when workers stop.
  cluster::on_signal(SIGINT, [](int) {});
  auto server = cluster::net::create_server();
  // Every connection straight into a tcp::socket on io, whatever the scheduling policy.
  cluster::asio::accept_into(io, *server, [](tcp::socket s, cluster::net::OpenConnection open) {
    std::make_shared<Session>(std::move(s), std::move(open))->start();
  });
  server->listen(env_int("PORT", 8000));
  cluster::worker().on(cluster::ev::disconnect, [] { drain(); });
  std::printf("Worker %d started\n", static_cast<int>(getpid()));
  cluster::asio::run(io);
}

// Beast alone: one process, its own acceptor, plain io.run().
void run_alone(asio::io_context& io) {
  static tcp::acceptor acceptor(io, {tcp::v4(), static_cast<unsigned short>(env_int("PORT", 8000))});
  acceptor.listen(511);
  std::printf("Listening on port %d\n", acceptor.local_endpoint().port());
  static std::function<void()> accept = [&io] {
    acceptor.async_accept(io, [](beast::error_code ec, tcp::socket s) {
      if (!ec) std::make_shared<Session>(std::move(s), cluster::net::OpenConnection{})->start();
      accept();
    });
  };
  accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  io.run();
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int workers = env_int("WORKERS", static_cast<int>(cluster::available_parallelism()));
  asio::io_context io{1};
  if (workers <= 0 && cluster::is_primary()) {
    run_alone(io);
  } else if (cluster::is_primary()) {
    run_primary(workers);
  } else {
    run_worker(io);
  }
  return 0;
}
