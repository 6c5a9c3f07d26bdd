#include "cluster/message.hpp"

#include <unistd.h>

#include <utility>

namespace cluster {

std::string_view handle_type_name(HandleType t) noexcept {
  switch (t) {
    case HandleType::net_socket: return "net.Socket";
    case HandleType::net_server: return "net.Server";
    case HandleType::net_native: return "net.Native";
    case HandleType::dgram_socket: return "dgram.Socket";
    case HandleType::dgram_native: return "dgram.Native";
    case HandleType::none: break;
  }
  return "";
}

HandleType parse_handle_type(std::string_view name) noexcept {
  for (auto t : {HandleType::net_socket, HandleType::net_server, HandleType::net_native,
                 HandleType::dgram_socket, HandleType::dgram_native}) {
    if (handle_type_name(t) == name) return t;
  }
  return HandleType::none;
}

Handle Handle::adopt(int fd, HandleType type) { return Handle(fd, type, true); }
Handle Handle::borrow(int fd, HandleType type) { return Handle(fd, type, false); }

Handle::Handle(Handle&& other) noexcept
    : key(std::move(other.key)),
      dgram_type(std::move(other.dgram_type)),
      fd_(std::exchange(other.fd_, -1)),
      type_(std::exchange(other.type_, HandleType::none)),
      owned_(std::exchange(other.owned_, false)) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    key = std::move(other.key);
    dgram_type = std::move(other.dgram_type);
    fd_ = std::exchange(other.fd_, -1);
    type_ = std::exchange(other.type_, HandleType::none);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Handle::~Handle() { reset(); }

int Handle::release() noexcept {
  owned_ = false;
  return std::exchange(fd_, -1);
}

void Handle::reset() noexcept {
  if (fd_ >= 0 && owned_) ::close(fd_);
  fd_ = -1;
  owned_ = false;
}

Message address_type_to_json(AddressType t) {
  switch (t) {
    case AddressType::udp4: return "udp4";
    case AddressType::udp6: return "udp6";
    default: return static_cast<int>(t);
  }
}

std::optional<AddressType> address_type_from_json(const Message& j) {
  if (j.is_string()) {
    if (j == "udp4") return AddressType::udp4;
    if (j == "udp6") return AddressType::udp6;
    return std::nullopt;
  }
  if (j.is_number_integer()) {
    switch (j.get<int>()) {
      case 4: return AddressType::tcp4;
      case 6: return AddressType::tcp6;
      case -1: return AddressType::unix_socket;
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace cluster
