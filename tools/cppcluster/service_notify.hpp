// The supervisor as a systemd Type=notify (or notify-reload) service: when systemd started it
// with NOTIFY_SOCKET, it says READY=1 once enough workers are ready, RELOADING=1 with
// MONOTONIC_USEC during a reload then READY=1 again, STOPPING=1 on stop, STATUS= with the
// pool's state, and WATCHDOG=1 every half WATCHDOG_USEC (when WATCHDOG_PID is unset or its pid).
// (notify.hpp is the other direction: the workers' notifications to the supervisor.)
#pragma once

#include "cluster/timer.hpp"

#include <string>

namespace cppcluster {

class ServiceNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and removes them from this process's
  // environment (the workers must not notify systemd as if they were the service). Starts the
  // watchdog pings on the cluster loop when asked for. Never fails: without NOTIFY_SOCKET (or
  // with an unusable one) every call does nothing.
  ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;
  // Stops the watchdog pings.
  ~ServiceNotifier();

  // True when systemd gave a NOTIFY_SOCKET.
  bool enabled() const noexcept { return !socket_path_.empty(); }
  // The watchdog ping interval in ms (0: none).
  long long watchdog_interval_ms() const noexcept { return watchdog_ms_; }

  // READY=1 with STATUS=status (also after a reload); nothing when disabled.
  void ready(const std::string& status);
  // RELOADING=1 and MONOTONIC_USEC=now; nothing when disabled or already reloading.
  void reloading();
  // STOPPING=1, once; nothing when disabled.
  void stopping();
  // STATUS=status when it changed since the last one sent; nothing when disabled.
  void status(const std::string& status);
  // Stops the watchdog pings (the loop may then end).
  void close();

 private:
  // Sends one datagram; false when it could not be sent (systemd gone: then ignored).
  bool send(const std::string& message);

  std::string socket_path_;
  long long watchdog_ms_ = 0;
  cluster::Timer watchdog_;
  std::string last_status_;
  bool reloading_ = false;
  bool stopping_ = false;
};

}  // namespace cppcluster
