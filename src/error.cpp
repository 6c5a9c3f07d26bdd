#include "cluster/error.hpp"

#include <uv.h>

namespace cluster {
namespace {

class ClusterCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cluster"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::bad_message: return "malformed IPC message";
      case errc::frame_too_large: return "IPC frame exceeds the size limit";
      case errc::channel_closed: return "Channel closed";
      case errc::worker_dead: return "worker is dead";
      case errc::unknown_act: return "unknown NODE_CLUSTER act";
      case errc::bad_handle: return "handle cannot be sent or was not received";
      case errc::unsupported_value: return "value cannot be serialized";
      case errc::handle_not_received: return "Handle did not reach the receiving process correctly";
      case errc::limit_exceeded: return "worker exceeded a limit of the primary";
      case errc::crash_loop: return "workers keep exiting: respawning stopped";
      case errc::ready_timeout: return "worker did not become ready in time";
      case errc::reload_failed: return "reload stopped: a new worker did not become ready";
    }
    return "unknown cluster error";
  }
};

class UvCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int ev) const override { return uv_strerror(ev); }
};

}  // namespace

const std::error_category& cluster_category() noexcept {
  static const ClusterCategory category;
  return category;
}

const std::error_category& uv_category() noexcept {
  static const UvCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), cluster_category()}; }

std::error_code uv_error(int status) noexcept { return {status, uv_category()}; }

std::string err_name(const std::error_code& ec) {
  if (!ec) return "";
  if (ec.category() == uv_category()) return uv_err_name(ec.value());
  if (ec.category() == std::system_category() || ec.category() == std::generic_category())
    return uv_err_name(-ec.value());
  if (ec.category() == cluster_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::bad_message: return "ERR_IPC_BAD_MESSAGE";
      case errc::frame_too_large: return "ERR_IPC_FRAME_TOO_LARGE";
      case errc::channel_closed: return "ERR_IPC_CHANNEL_CLOSED";
      case errc::worker_dead: return "ERR_WORKER_DEAD";
      case errc::unknown_act: return "ERR_CLUSTER_UNKNOWN_ACT";
      case errc::bad_handle: return "ERR_INVALID_HANDLE_TYPE";
      case errc::unsupported_value: return "ERR_IPC_UNSUPPORTED_VALUE";
      case errc::handle_not_received: return "SentHandleNotReceivedWarning";
      case errc::limit_exceeded: return "ERR_CLUSTER_LIMIT_EXCEEDED";
      case errc::crash_loop: return "ERR_CLUSTER_CRASH_LOOP";
      case errc::ready_timeout: return "ERR_CLUSTER_READY_TIMEOUT";
      case errc::reload_failed: return "ERR_CLUSTER_RELOAD_FAILED";
    }
  }
  return "UNKNOWN";
}

}  // namespace cluster
