// Messages and the handles that may ride with them.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace cluster {

// A message is a JSON value whose object keys keep their insertion order, as JSON.stringify does.
// Binary values (json::binary_t) travel only under 'advanced' serialization, as Node Buffers.
using Message = nlohmann::ordered_json;

// The kinds of handle Node's send() knows (lib/internal/child_process.js handleConversion).
enum class HandleType { none, net_socket, net_server, net_native, dgram_socket, dgram_native };

// The wire name of a handle type ("net.Socket", ...); "" for none.
std::string_view handle_type_name(HandleType t) noexcept;
// Parses a wire name; HandleType::none when unknown.
HandleType parse_handle_type(std::string_view name) noexcept;

// A socket file descriptor sent or received with a message. A received Handle owns its fd and
// closes it when destroyed unless release() takes it. A Handle made with borrow() never closes it.
class Handle {
 public:
  Handle() = default;
  // Wraps fd, which the Handle will close.
  static Handle adopt(int fd, HandleType type);
  // Refers to fd without owning it.
  static Handle borrow(int fd, HandleType type);
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  // True when a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // The descriptor, or -1.
  int fd() const noexcept { return fd_; }
  // The handle's kind as sent on the wire.
  HandleType type() const noexcept { return type_; }
  // True when this Handle closes its fd.
  bool owned() const noexcept { return owned_; }
  // Gives up the fd to the caller (who must close it); -1 if empty.
  int release() noexcept;
  // Closes an owned fd now; a borrowed one is only forgotten.
  void reset() noexcept;

  // Extra wrapper fields of NODE_HANDLE: a net.Socket's server key, a dgram socket's type.
  std::optional<std::string> key;
  std::optional<std::string> dgram_type;

 private:
  Handle(int fd, HandleType type, bool owned) : fd_(fd), type_(type), owned_(owned) {}
  int fd_ = -1;
  HandleType type_ = HandleType::none;
  bool owned_ = false;
};

// Options of send(), as Node's: keep_open leaves a sent net.Socket open in the sender.
struct SendOptions {
  bool keep_open = false;
};

// What a 'listening' event reports, as Node's address object.
enum class AddressType { tcp4 = 4, tcp6 = 6, unix_socket = -1, udp4 = 100, udp6 = 101 };

struct Address {
  std::string address;
  int port = 0;
  AddressType address_type = AddressType::tcp4;
  std::optional<int> fd;
};

// The wire form of an address type: 4, 6, -1, "udp4" or "udp6".
Message address_type_to_json(AddressType t);
// Parses the wire form; nullopt when it is none of those.
std::optional<AddressType> address_type_from_json(const Message& j);

}  // namespace cluster
