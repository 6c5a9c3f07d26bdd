/// @file
/// Errors: libuv system errors and cluster protocol errors as std::error_code.
#pragma once

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

namespace cluster {

/// Protocol and usage failures that are not system calls failing.
enum class errc {
  bad_message = 1,    ///< a frame from the peer could not be decoded
  frame_too_large,    ///< a frame exceeded the channel's size limit
  channel_closed,     ///< the IPC channel is closed (Node: ERR_IPC_CHANNEL_CLOSED)
  worker_dead,        ///< the worker has exited
  unknown_act,        ///< a NODE_CLUSTER message with an act this side does not know
  bad_handle,         ///< a handle of a type that cannot be sent, or a NODE_HANDLE without an fd
  unsupported_value,  ///< a value the chosen serialization cannot carry
  handle_not_received,  ///< the peer NACKed a handle three times
  limit_exceeded,     ///< a worker passed one of the primary's per-worker bounds (Settings)
  crash_loop,         ///< a Pool saw too many unexpected exits in its window and stopped respawning
  ready_timeout,      ///< a Pool's new worker did not become ready in time (killed, a failed start)
  reload_failed,      ///< a Pool's rolling reload stopped: a new worker failed to become ready
};

/// The category of cluster::errc values.
const std::error_category& cluster_category() noexcept;
/// The category of libuv error numbers (negative errno values); messages come from uv_strerror.
const std::error_category& uv_category() noexcept;

/// Makes an error_code from a cluster::errc.
std::error_code make_error_code(errc e) noexcept;
/// Makes an error_code from a libuv status (a negative errno such as UV_EADDRINUSE).
std::error_code uv_error(int status) noexcept;
/// The Node-style name of an error: "EADDRINUSE", "ERR_IPC_CHANNEL_CLOSED", ...; "" for success.
std::string err_name(const std::error_code& ec);

/// A failed system call with Node's err.syscall, err.address and err.port (a listen or bind
/// error). Error listeners receive it as a std::system_error: read the fields with system_error_of().
class SystemError : public std::system_error {
 public:
  /// what_arg starts what(), as for std::system_error ("listen 127.0.0.1:80").
  SystemError(std::error_code ec, const std::string& what_arg, std::string syscall,
              std::optional<std::string> address = std::nullopt, std::optional<int> port = std::nullopt)
      : std::system_error(ec, what_arg), syscall_(std::move(syscall)), address_(std::move(address)), port_(port) {}
  /// Node's err.syscall: "listen" for a server of this process, "bind" for one served through the
  /// primary (as Node names them), "kill", ...
  const std::string& syscall() const noexcept { return syscall_; }
  /// Node's err.address: the host or Unix socket path; nullopt where Node has null or undefined.
  const std::optional<std::string>& address() const noexcept { return address_; }
  /// Node's err.port (-1 for a Unix socket, as Node); nullopt where Node has undefined.
  std::optional<int> port() const noexcept { return port_; }

 private:
  std::string syscall_;
  std::optional<std::string> address_;
  std::optional<int> port_;
};

/// The SystemError that e is (an error event's argument), or nullptr when e has no such fields.
inline const SystemError* system_error_of(const std::system_error& e) noexcept {
  return dynamic_cast<const SystemError*>(&e);
}

}  // namespace cluster

// Makes ec == errc::channel_closed work; a std specialization, left out of the documentation.
/// @cond
template <>
struct std::is_error_code_enum<cluster::errc> : std::true_type {};
/// @endcond
