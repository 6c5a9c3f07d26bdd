/// @file
/// Messages and the handles that may ride with them.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace cluster {

/// A message is a JSON value whose object keys keep their insertion order, as JSON.stringify does.
/// Binary values (json::binary_t) travel only under 'advanced' serialization, as Node Buffers.
using Message = nlohmann::ordered_json;

/// The kinds of handle Node's send() knows (lib/internal/child_process.js handleConversion).
enum class HandleType { none, net_socket, net_server, net_native, dgram_socket, dgram_native };

/// The wire name of a handle type ("net.Socket", ...); "" for none.
std::string_view handle_type_name(HandleType t) noexcept;
/// Parses a wire name; HandleType::none when unknown.
HandleType parse_handle_type(std::string_view name) noexcept;

/// A socket file descriptor sent or received with a message. A received Handle owns its fd and
/// closes it when destroyed unless release() takes it. A Handle made with borrow() never closes it.
class Handle {
 public:
  Handle() = default;
  /// Wraps fd, which the Handle will close.
  static Handle adopt(int fd, HandleType type);
  /// Refers to fd without owning it.
  static Handle borrow(int fd, HandleType type);
  /// Takes other's descriptor; other is left empty.
  Handle(Handle&& other) noexcept;
  /// Closes an owned descriptor held here, then takes other's; other is left empty.
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  /// True when a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// The descriptor, or -1.
  int fd() const noexcept { return fd_; }
  /// The handle's kind as sent on the wire.
  HandleType type() const noexcept { return type_; }
  /// True when this Handle closes its fd.
  bool owned() const noexcept { return owned_; }
  /// Gives up the fd to the caller (who must close it); -1 if empty.
  int release() noexcept;
  /// Closes an owned fd now; a borrowed one is only forgotten.
  void reset() noexcept;

  /// NODE_HANDLE wrapper field: a net.Socket's server key.
  std::optional<std::string> key;
  /// NODE_HANDLE wrapper field: a dgram socket's type ("udp4", "udp6").
  std::optional<std::string> dgram_type;

 private:
  Handle(int fd, HandleType type, bool owned) : fd_(fd), type_(type), owned_(owned) {}
  int fd_ = -1;
  HandleType type_ = HandleType::none;
  bool owned_ = false;
};

/// Options of send(), as Node's: keep_open leaves a sent net.Socket open in the sender.
struct SendOptions {
  bool keep_open = false;  ///< leave a sent net.Socket open here (Node's keepOpen)
};

/// An address's kind, as Node's addressType: 4, 6, -1 (a Unix socket), "udp4", "udp6".
enum class AddressType { tcp4 = 4, tcp6 = 6, unix_socket = -1, udp4 = 100, udp6 = 101 };

/// What a 'listening' event reports, as Node's address object.
struct Address {
  std::string address;                           ///< the IP address, or a Unix socket's path
  int port = 0;                                  ///< the port (-1 for a Unix socket)
  AddressType address_type = AddressType::tcp4;  ///< its kind
  std::optional<int> fd;                         ///< set when listening on a given descriptor
};

/// The wire form of an address type: 4, 6, -1, "udp4" or "udp6".
Message address_type_to_json(AddressType t);
/// Parses the wire form; nullopt when it is none of those.
std::optional<AddressType> address_type_from_json(const Message& j);

}  // namespace cluster
