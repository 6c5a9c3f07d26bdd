/// @file
/// cluster::dgram: UDP sockets (udp4, udp6) on the process's libuv loop, as Node's dgram module.
/// In a worker, bind() goes through the primary, which binds once per key and shares the socket
/// with every worker that binds the same address (UDP is never round-robin): every worker reads
/// the one socket and whichever wakes first gets a datagram, so the share can be very uneven.
/// Under sched_reuseport the primary binds one SO_REUSEPORT socket per worker instead and the
/// kernel hashes each flow (source address and port) to one worker; datagrams still queued in a
/// leaving worker's socket are lost (see src/reuseport_udp_handle.hpp). Everything runs on the
/// loop thread; a bound socket keeps itself alive until close().
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

namespace cluster::dgram {

/// The socket family: udp4 (IPv4) or udp6 (IPv6).
enum class Type { udp4, udp6 };

/// Where a datagram came from (Node's rinfo).
struct RemoteInfo {
  std::string address;  ///< the sender's IP address
  std::string family;   ///< "IPv4" or "IPv6"
  int port = 0;         ///< the sender's port
  std::size_t size = 0; ///< the datagram's length in bytes
};

/// What bind() binds. An empty address is 0.0.0.0 (udp4) or :: (udp6).
struct BindOptions {
  int port = 0;              ///< port to bind; 0: a free one (in a worker, the same for all)
  std::string address;       ///< address to bind; empty: any
  std::optional<int> fd;     ///< an already bound UDP socket (in a worker: the primary's fd)
  bool exclusive = false;    ///< in a worker: bind here rather than through the primary
  bool reuse_addr = false;   ///< SO_REUSEADDR (Node's reuseAddr)
  bool ipv6_only = false;    ///< udp6 only: no IPv4-mapped addresses (Node's ipv6Only)
};

/// The callback of send(): empty error_code once the datagram is handed to the kernel.
using SendCallback = std::function<void(std::error_code)>;

/// The events of a dgram::Socket: listening, message(data, rinfo), close, error.
using SocketEmitter = Emitter<Event<ev::listening_t>,
                              Event<ev::message_t, std::string_view, const RemoteInfo&>,
                              Event<ev::close_t>,
                              Event<ev::error_t, const std::system_error&>>;

/// A UDP socket (Node's dgram.Socket). Events: listening, message(data, rinfo) (the view is valid
/// only during the call), close, error (a bind failure carries the errno name, e.g. EADDRINUSE).
class Socket : public SocketEmitter, public std::enable_shared_from_this<Socket> {
 public:
  /// A new, unbound socket of type t.
  static std::shared_ptr<Socket> create(Type t);

  struct Private;
  /// For create() only (Private cannot be made outside the library): use create().
  Socket(Private, Type t);
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  /// Binds; cb is added as a once-listener of listening. Errors arrive as the error event and
  /// leave the socket unbound. Throws std::logic_error when already bound or closed.
  void bind(const BindOptions& o, std::function<void()> cb = {});
  /// bind({.port = port}).
  void bind(int port, std::function<void()> cb = {});
  /// bind({.port = port, .address = address}).
  void bind(int port, const std::string& address, std::function<void()> cb = {});
  /// Sends one datagram to address:port (empty: the loopback address). An unbound socket is bound
  /// to a random port first, locally (Node's implicit exclusive bind). cb gets the outcome.
  void send(std::string_view data, int port, const std::string& address = {}, SendCallback cb = {});
  /// Closes; cb is added as a once-listener of close. In a worker this tells the primary.
  void close(std::function<void()> cb = {});
  /// The bound address (address_type udp4/udp6); nullopt unless bound.
  std::optional<Address> address() const;
  /// Makes the bound socket keep the loop alive (the default; Node's socket.ref()).
  void ref();
  /// Lets the loop end while the socket is bound (Node's socket.unref()).
  void unref();
  /// udp4 or udp6 (Node's socket.type).
  Type type() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Node's dgram.createSocket(type).
inline std::shared_ptr<Socket> create_socket(Type t) { return Socket::create(t); }

}  // namespace cluster::dgram
