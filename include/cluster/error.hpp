// Errors: libuv system errors and cluster protocol errors as std::error_code.
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

namespace cluster {

// Protocol and usage failures that are not system calls failing.
enum class errc {
  bad_message = 1,    // a frame from the peer could not be decoded
  frame_too_large,    // a frame exceeded the channel's size limit
  channel_closed,     // the IPC channel is closed (Node: ERR_IPC_CHANNEL_CLOSED)
  worker_dead,        // the worker has exited
  unknown_act,        // a NODE_CLUSTER message with an act this side does not know
  bad_handle,         // a handle of a type that cannot be sent, or a NODE_HANDLE without an fd
  unsupported_value,  // a value the chosen serialization cannot carry
  handle_not_received,  // the peer NACKed a handle three times
};

// The category of cluster::errc values.
const std::error_category& cluster_category() noexcept;
// The category of libuv error numbers (negative errno values); messages come from uv_strerror.
const std::error_category& uv_category() noexcept;

// Makes an error_code from a cluster::errc.
std::error_code make_error_code(errc e) noexcept;
// Makes an error_code from a libuv status (a negative errno such as UV_EADDRINUSE).
std::error_code uv_error(int status) noexcept;
// The Node-style name of an error: "EADDRINUSE", "ERR_IPC_CHANNEL_CLOSED", ...; "" for success.
std::string err_name(const std::error_code& ec);

}  // namespace cluster

template <>
struct std::is_error_code_enum<cluster::errc> : std::true_type {};
