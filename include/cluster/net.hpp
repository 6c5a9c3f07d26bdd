/// @file
/// cluster::net: TCP (IPv4, IPv6) and Unix domain socket servers and sockets on the process's
/// libuv loop, as Node's net module. In a worker, Server::listen() goes through the primary
/// (Node's queryServer): under sched_rr the primary accepts and hands each connection over, under
/// sched_none it passes the listening socket and the worker accepts. Everything runs on the loop
/// thread. An open Server or Socket keeps itself alive until it closes, as in Node.
#pragma once

#include "cluster/emitter.hpp"
#include "cluster/events.hpp"
#include "cluster/message.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace cluster::ev {
struct connection_t {};
struct connect_t {};
struct drain_t {};
/// A server accepted a connection (Node's 'connection').
inline constexpr connection_t connection{};
/// A socket's connect() succeeded (Node's 'connect').
inline constexpr connect_t connect{};
/// A socket's write queue emptied after write() returned false (Node's 'drain').
inline constexpr drain_t drain{};
}  // namespace cluster::ev

namespace cluster::net {

class Server;

/// The callback of write(): empty error_code once the bytes are handed to the kernel.
using WriteCallback = std::function<void(std::error_code)>;

/// The events of a net::Socket: connect, data, end, drain, error, close(had_error).
using SocketEmitter = Emitter<Event<ev::connect_t>,
                              Event<ev::data_t, std::string_view>,
                              Event<ev::end_t>,
                              Event<ev::drain_t>,
                              Event<ev::error_t, const std::system_error&>,
                              Event<ev::close_t, bool>>;

/// Where connect() goes: host:port (host an IP literal or a name) or a Unix socket path.
struct ConnectOptions {
  int port = 0;                    ///< the port to connect to
  std::string host = "127.0.0.1";  ///< an IP literal or a name
  std::string path;                ///< when set, a Unix domain socket (port and host unused)
};

/// A stream connection (Node's net.Socket). Events: connect, data (the view is valid only during
/// the call), end (the peer finished sending), drain (the write queue emptied after write()
/// returned false), error, close(had_error). Reading starts as soon as the socket exists, so
/// listeners added in the connection/connect callback see every byte.
class Socket : public SocketEmitter, public std::enable_shared_from_this<Socket> {
 public:
  /// Node's default writableHighWaterMark: write() returns false past this many queued bytes.
  static constexpr std::size_t high_water_mark = 16 * 1024;

  /// Connects to o; failures (ECONNREFUSED, ENOENT, a failed lookup) arrive as the error event.
  static std::shared_ptr<Socket> connect(const ConnectOptions& o);
  /// Connects to host:port.
  static std::shared_ptr<Socket> connect(int port, const std::string& host = "127.0.0.1");
  /// Adopts a received connection (a net.Socket or net.Native handle holding a stream socket).
  /// Throws std::invalid_argument when h holds no TCP or Unix stream socket.
  static std::shared_ptr<Socket> from(Handle&& h);

  struct Private;
  /// For the library's factories only (Private cannot be made outside it): use connect().
  explicit Socket(Private);
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  /// Queues data; returns false once more than high_water_mark bytes wait (wait for drain). cb gets
  /// the outcome; writing after end() or destroy() fails with EPIPE.
  bool write(std::string_view data, WriteCallback cb = {});
  /// Sends data (if any), then the FIN; the socket closes once both sides have finished.
  void end(std::string_view data = {});
  /// Closes at once; queued writes are dropped. close is emitted on a later tick.
  void destroy();
  /// Alias of destroy().
  void close() { destroy(); }
  /// Stops reading (backpressure on the peer; Node's socket.pause()).
  void pause();
  /// Starts reading again (Node's socket.resume()).
  void resume();
  /// TCP_NODELAY on or off; ignored for Unix sockets.
  void set_no_delay(bool on = true);
  /// Makes the open socket keep the loop alive (the default; Node's socket.ref()). No effect
  /// once closed.
  void ref();
  /// Lets the loop end while the socket is open (Node's socket.unref()); writes in flight keep
  /// it alive either way. No effect once closed.
  void unref();
  /// The peer's address; nullopt once closed (or for an unnamed Unix peer).
  std::optional<Address> remote_address() const;
  /// Our own address (Node's socket.address()); nullopt once closed.
  std::optional<Address> local_address() const;
  /// Bytes queued and not yet written.
  std::size_t write_queue_size() const;
  /// True until connect (or error) (Node's socket.connecting).
  bool connecting() const;
  /// True once destroyed or released (Node's socket.destroyed).
  bool destroyed() const;
  /// The descriptor, or -1 once closed; still owned by the socket.
  int fd() const;
  /// Hands the connection over to other code: returns a descriptor the caller now owns (a dup;
  /// non-blocking, close-on-exec) and closes this Socket (close is emitted, had_error false).
  /// Call it before any data has been read (e.g. in the connection callback) to lose no bytes.
  /// Returns -1 once closed.
  int release_fd();
  /// The socket as a handle for send(): with keep_open it stays open here (a borrowed handle);
  /// otherwise it is released as by release_fd() and the library closes it once the peer has it.
  /// Pass the same options to send(). An empty Handle once closed.
  Handle to_handle(SendOptions opts = {});

 private:
  friend class Server;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A connection that Server::on_descriptor() handed over, for as long as it is open: the primary
/// counts it open (connection_stats().open, the least_connections scheduler) until this is
/// destroyed or reset(). Keep it beside the connection (in the session object) and let it go when
/// the connection closes, on the thread of the cluster's loop. Move-only. Empty (nothing counted)
/// for connections the primary does not count: those a worker accepts itself, or in a primary.
class OpenConnection {
 public:
  struct Private;
  /// An empty one (nothing counted).
  OpenConnection() = default;
  /// For the library (Private cannot be made outside it): counted says whether the primary counts it.
  OpenConnection(Private, bool counted) noexcept;
  /// Takes o's count over; o is left empty.
  OpenConnection(OpenConnection&& o) noexcept : counted_(o.counted_) { o.counted_ = false; }
  /// Reports this one closed (reset()), then takes o's count over; o is left empty.
  OpenConnection& operator=(OpenConnection&& o) noexcept {
    if (this != &o) {
      reset();
      counted_ = o.counted_;
      o.counted_ = false;
    }
    return *this;
  }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;
  ~OpenConnection() { reset(); }

  /// Tells the primary the connection has closed (once; later calls do nothing). Never fails.
  void reset() noexcept;
  /// Whether the primary counts this connection as open (until reset()).
  bool counted() const noexcept { return counted_; }

 private:
  bool counted_ = false;
};

/// The events of a net::Server: listening, connection(socket), close, error.
using ServerEmitter = Emitter<Event<ev::listening_t>,
                              Event<ev::connection_t, const std::shared_ptr<Socket>&>,
                              Event<ev::close_t>,
                              Event<ev::error_t, const std::system_error&>>;

/// What listen() binds: a port (with an optional host), a Unix socket path, or an existing
/// socket fd. In a worker, fd names a descriptor of the primary (Node's listen({fd})).
struct ListenOptions {
  int port = 0;              ///< 0: a free port, the same one for every worker that asks
  std::string host;          ///< IP literal or name; empty: any address (:: dual-stack, else 0.0.0.0)
  std::string path;          ///< a Unix domain socket instead of TCP
  std::optional<int> fd;     ///< an already bound socket
  int backlog = 511;         ///< the listen backlog
  bool ipv6_only = false;    ///< IPv6 only: no IPv4-mapped addresses (Node's ipv6Only)
  bool exclusive = false;    ///< in a worker: bind here rather than through the primary
  bool readable_all = false; ///< Unix sockets: make the socket readable by all users
  bool writable_all = false; ///< Unix sockets: make the socket writable by all users
};

/// A listening server (Node's net.Server). Events: listening, connection(socket), close (once
/// closed and every connection has ended), error (bind/listen failures carry the errno name:
/// err_name(e.code()) == "EADDRINUSE").
class Server : public ServerEmitter, public std::enable_shared_from_this<Server> {
 public:
  /// A connection listener: called with each accepted (or handed-over) connection.
  using ConnectionListener = std::function<void(const std::shared_ptr<Socket>&)>;
  /// A descriptor listener: called with each connection as a raw descriptor it now owns, the
  /// kind of address the server listens on (tcp4, tcp6 or unix_socket), and the token that keeps
  /// it counted open by the primary (see OpenConnection).
  using DescriptorListener = std::function<void(int fd, AddressType type, OpenConnection open)>;

  /// A new server; on_connection, when given, is added as a connection listener.
  static std::shared_ptr<Server> create(ConnectionListener on_connection = {});

  struct Private;
  /// For create() only (Private cannot be made outside the library): use create().
  explicit Server(Private);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  /// Starts listening; cb is added as a once-listener of listening. Errors arrive as the error
  /// event. Throws std::logic_error when already listening.
  void listen(const ListenOptions& o, std::function<void()> cb = {});
  /// listen({.port = port}).
  void listen(int port, std::function<void()> cb = {});
  /// listen({.port = port, .host = host}).
  void listen(int port, const std::string& host, std::function<void()> cb = {});
  /// Listens on a given socket (a received net.Server handle, or any bound stream socket) without
  /// asking the primary. Throws std::invalid_argument when h holds no stream socket.
  void listen(Handle h, std::function<void()> cb = {});
  /// Hands every connection from now on to cb as a raw descriptor that cb owns (a connected
  /// stream socket, non-blocking, close-on-exec) instead of a Socket and a connection event. No
  /// libuv handle is made for it, so code with its own event loop pays only for its own
  /// registration (cluster::asio::accept_into uses this). Where this process listens (sched_none,
  /// sched_reuseport, a primary or a plain program), it accepts with accept4 itself. Such
  /// connections are not counted by connections() nor limited by set_max_connections(); the
  /// primary counts one it handed over as open until its OpenConnection goes. An empty cb goes
  /// back to Sockets. Throws std::logic_error once listen() was called.
  void on_descriptor(DescriptorListener cb);
  /// Stops accepting; cb runs once every connection has ended too (with ENOTCONN, Node's
  /// ERR_SERVER_NOT_RUNNING, when the server was not listening). In a worker this tells the
  /// primary (act 'close').
  void close(std::function<void(std::error_code)> cb = {});
  /// The bound address (under sched_rr in a worker, the primary's); nullopt unless listening.
  std::optional<Address> address() const;
  /// Whether the server is listening (Node's server.listening).
  bool listening() const;
  /// Open connections accepted by this server.
  std::size_t connections() const;
  /// Node's maxConnections: beyond it new connections are closed (round-robin: refused, so the
  /// primary gives them to another worker). nullopt: no limit.
  void set_max_connections(std::optional<std::size_t> n);
  /// Makes the listening server keep the loop alive (the default; Node's server.ref()).
  void ref();
  /// Lets the loop end while the server listens (Node's server.unref()).
  void unref();
  /// The listening socket as a net.Server handle for send() (borrowed: it stays open here). An
  /// empty Handle in a worker served round-robin, where there is no local socket.
  Handle to_handle() const;

 private:
  friend class Socket;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Node's net.createServer().
inline std::shared_ptr<Server> create_server(Server::ConnectionListener on_connection = {}) {
  return Server::create(std::move(on_connection));
}

}  // namespace cluster::net
