/// @file
/// Optional, header-only: runs the cluster's libuv loop inside an Asio io_context on the same
/// thread, so a worker written with Asio or Beast serves the connections the cluster hands it as
/// tcp::sockets, with no second thread. Timers, signals and messages keep working beside Asio.
///
/// Standalone Asio (<asio.hpp>, Debian libasio-dev) by default; Boost.Asio (<boost/asio.hpp>,
/// libboost-dev) when CPPCLUSTER_ASIO_BOOST is defined to 1 before this header, or when it is not
/// defined and a Boost.Asio header was included first. Both may be used in one program (each in
/// its own translation unit): their definitions live in different inline namespaces.
///
///   asio::io_context io{1};
///   auto server = cluster::net::create_server();
///   cluster::asio::accept_into(io, *server, [](asio::ip::tcp::socket s) {
///     start_session(std::move(s));                    // each connection, a tcp::socket on io
///   });
///   server->listen(8000);
///   cluster::asio::run(io);                           // instead of io.run() and cluster::run()
///
/// adopt(io, socket) turns one net::Socket (from a connection event) into a tcp::socket instead,
/// for servers that also serve some connections with net::Socket.
///
/// How: libuv's backend descriptor (its epoll fd) is watched with
/// posix::stream_descriptor::async_wait(wait_read) and its next timer with a steady_timer; when
/// either fires, one non-blocking pass of the libuv loop runs (cluster::run_nowait()). run(io)
/// also reads libuv's state again after every Asio handler, since a handler that starts a
/// cluster::Timer, sends a message or closes a socket changes what libuv waits for.
/// Why this way round: libuv exposes what it waits on (uv_backend_fd, uv_backend_timeout) for
/// exactly this embedding; Asio's reactor exposes neither its descriptor nor its deadlines.
#pragma once

#include "cluster/cluster.hpp"
#include "cluster/net.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#if !defined(CPPCLUSTER_ASIO_BOOST)
#if defined(BOOST_ASIO_VERSION)
/// 1: this header uses Boost.Asio; 0: standalone Asio. Define it before the include to choose.
#define CPPCLUSTER_ASIO_BOOST 1
#else
/// 1: this header uses Boost.Asio; 0: standalone Asio. Define it before the include to choose.
#define CPPCLUSTER_ASIO_BOOST 0
#endif
#endif

#if CPPCLUSTER_ASIO_BOOST
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
/// The inline namespace of this header's definitions (one per Asio flavour, so both can link).
#define CPPCLUSTER_ASIO_NS boost_asio
#else
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
/// The inline namespace of this header's definitions (one per Asio flavour, so both can link).
#define CPPCLUSTER_ASIO_NS standalone_asio
#endif

namespace cluster::asio {
inline namespace CPPCLUSTER_ASIO_NS {

#if CPPCLUSTER_ASIO_BOOST
namespace lib = ::boost::asio;
#else
namespace lib = ::asio;
#endif

/// Runs the cluster's libuv loop from io while it lives (see the file comment). Use one per
/// io_context, on the thread that runs it; run(io) makes its own. With io.run() instead of
/// run(io), call update() after touching the cluster from an Asio handler (starting a timer,
/// sending a message), or libuv may learn of it late. Never throws after construction.
class LoopDriver {
 public:
  /// Starts watching libuv's descriptor and timeout on io; throws std::system_error (Asio's) when
  /// the descriptor cannot be registered with io's reactor.
  explicit LoopDriver(lib::io_context& io) : state_(std::make_shared<State>(io)) { state_->update(); }
  LoopDriver(const LoopDriver&) = delete;
  LoopDriver& operator=(const LoopDriver&) = delete;
  /// Stops watching; the libuv loop is left as it is (its descriptor stays open).
  ~LoopDriver() { state_->close(); }

  /// Reads what libuv waits for now and re-arms the watch: a pass runs at once (posted) when
  /// libuv has work, and nothing stays armed once it has none, so io can run out of work.
  void update() { state_->update(); }

 private:
  using clock = std::chrono::steady_clock;

  struct State : std::enable_shared_from_this<State> {
    explicit State(lib::io_context& c)
        : io(c), fd(c, cluster::loop_backend().fd), timer(c) {}

    lib::io_context& io;
    lib::posix::stream_descriptor fd;
    lib::steady_timer timer;
    clock::time_point timer_at{};
    bool fd_waiting = false;
    bool timer_waiting = false;
    bool pass_posted = false;
    bool closed = false;

    void pass() {
      if (closed) return;
      cluster::run_nowait();
      update();
    }

    void update() {
      if (closed) return;
      const cluster::LoopBackend b = cluster::loop_backend();
      if (!b.alive) {
        // Nothing left in libuv: drop the watch so that io.run() can end with Asio's own work.
        if (fd_waiting) fd.cancel();
        if (timer_waiting) timer.cancel();
        timer_waiting = false;
        return;
      }
      if (!fd_waiting) {
        fd_waiting = true;
        // Any outcome (ready, or cancelled because libuv had ended) runs a pass: it is cheap, and
        // re-reads whether libuv came alive again meanwhile.
        fd.async_wait(lib::posix::stream_descriptor::wait_read, [self = shared_from_this()](const auto&) {
          self->fd_waiting = false;
          self->pass();
        });
      }
      if (b.timeout_ms == 0) {
        // Work now (pending callbacks, ticks, closes): posted, so Asio's handlers and I/O keep
        // their turn while libuv has a steady stream of it.
        if (!pass_posted) {
          pass_posted = true;
          lib::post(io, [self = shared_from_this()] {
            self->pass_posted = false;
            self->pass();
          });
        }
      } else if (b.timeout_ms > 0) {
        const clock::time_point at = clock::now() + std::chrono::milliseconds(b.timeout_ms);
        if (timer_waiting && timer_at <= at) return;
        timer_waiting = true;
        timer_at = at;
        timer.expires_at(at);  // cancels an earlier wait, whose handler then does nothing
        timer.async_wait([self = shared_from_this()](const auto& ec) {
          if (ec == lib::error::operation_aborted) return;
          self->timer_waiting = false;
          self->pass();
        });
      }
    }

    void close() {
      closed = true;
      timer.cancel();
      // Leaves libuv's descriptor open: it is the loop's, not ours.
      (void)fd.release();
    }
  };

  std::shared_ptr<State> state_;
};

/// Runs io and the cluster's loop together on this thread until both have nothing left to do, or
/// io.stop() is called (io must not be stopped when it starts: restart() it first). Returns the
/// number of Asio handlers run. Throws what a handler throws (Asio's rule); cluster callbacks
/// never throw across libuv.
inline std::size_t run(lib::io_context& io) {
  LoopDriver driver(io);
  std::size_t n = 0;
  while (io.run_one() != 0) {
    ++n;
    driver.update();
  }
  return n;
}

/// Moves a connection the cluster handed this process (a Socket from a server's connection event,
/// before any data was read) into a tcp::socket on io; the Socket is closed. On failure returns a
/// closed tcp::socket and sets ec: EBADF when the Socket was already closed,
/// EAFNOSUPPORT for a Unix domain socket, or the error of registering it with io.
inline lib::ip::tcp::socket adopt(lib::io_context& io, net::Socket& s, std::error_code& ec) {
  ec.clear();
  lib::ip::tcp::socket out(io);
  const int fd = s.release_fd();
  if (fd < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return out;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ec = std::error_code(errno, std::system_category());
  } else if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) {
    ec = std::make_error_code(std::errc::address_family_not_supported);
  } else {
    const lib::ip::tcp proto =
        addr.ss_family == AF_INET6 ? lib::ip::tcp::v6() : lib::ip::tcp::v4();
#if CPPCLUSTER_ASIO_BOOST
    boost::system::error_code aec;
#else
    std::error_code aec;
#endif
    out.assign(proto, fd, aec);
    ec = aec;
  }
  if (ec) ::close(fd);
  return out;
}

/// As above, throwing std::system_error instead of setting an error code.
inline lib::ip::tcp::socket adopt(lib::io_context& io, net::Socket& s) {
  std::error_code ec;
  auto out = adopt(io, s, ec);
  if (ec) throw std::system_error(ec, "cluster::asio::adopt");
  return out;
}

/// Makes server hand every connection to on_socket(tcp::socket) on io, with no net::Socket made
/// for it (net::Server::on_descriptor): the cheapest way from the cluster into Asio, under every
/// scheduling policy. Call it before server.listen(); the connection event is then not emitted.
/// A handler that also takes a net::OpenConnection, on_socket(tcp::socket, OpenConnection), keeps
/// the connection counted open by the primary (least_connections) until it lets that go; with
/// one argument, the primary counts the connection closed once handed over.
/// A connection that cannot be registered with io (or arrives on a Unix socket server, which a
/// tcp::socket cannot hold) is closed and reported as the server's error event (EAFNOSUPPORT, or
/// Asio's error), when the server has an error listener. Throws std::logic_error once listening.
template <class Handler>
void accept_into(lib::io_context& io, net::Server& server, Handler on_socket) {
  std::weak_ptr<net::Server> weak = server.weak_from_this();
  server.on_descriptor([&io, weak, on_socket = std::move(on_socket)](int fd, AddressType type,
                                                                      net::OpenConnection open) mutable {
    std::error_code ec;
    if (type == AddressType::tcp4 || type == AddressType::tcp6) {
      lib::ip::tcp::socket s(io);
#if CPPCLUSTER_ASIO_BOOST
      boost::system::error_code aec;
#else
      std::error_code aec;
#endif
      s.assign(type == AddressType::tcp6 ? lib::ip::tcp::v6() : lib::ip::tcp::v4(), fd, aec);
      if (!aec) {
        if constexpr (std::is_invocable_v<Handler&, lib::ip::tcp::socket, net::OpenConnection>) {
          on_socket(std::move(s), std::move(open));
        } else {
          on_socket(std::move(s));
        }
        return;
      }
      ec = aec;
    } else {
      ec = std::make_error_code(std::errc::address_family_not_supported);
    }
    ::close(fd);
    auto srv = weak.lock();
    if (srv && srv->listener_count(ev::error) != 0) {
      srv->emit(ev::error, std::system_error(ec, "cluster::asio::accept_into"));
    }
  });
}

}  // namespace CPPCLUSTER_ASIO_NS
}  // namespace cluster::asio

#undef CPPCLUSTER_ASIO_NS
