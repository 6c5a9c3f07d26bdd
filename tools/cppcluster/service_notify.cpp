#include "service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

namespace cppcluster {

ServiceNotifier::ServiceNotifier() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* wpid = std::getenv("WATCHDOG_PID");
  // An absolute path, or "@name" for the abstract namespace, as systemd passes it.
  if (sock && (sock[0] == '/' || sock[0] == '@') && std::string(sock).size() < sizeof(sockaddr_un::sun_path)) {
    socket_path_ = sock;
  }
  const bool ours = !wpid || std::atoll(wpid) == static_cast<long long>(::getpid());
  if (enabled() && usec && ours) {
    const long long us = std::atoll(usec);
    if (us > 0) watchdog_ms_ = us / 2000 > 0 ? us / 2000 : 1;
  }
  for (const char* v : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}) ::unsetenv(v);
  if (watchdog_ms_ > 0) {
    send("WATCHDOG=1");
    watchdog_ = cluster::set_interval([this] { send("WATCHDOG=1"); }, std::chrono::milliseconds(watchdog_ms_));
  }
}

ServiceNotifier::~ServiceNotifier() { close(); }

void ServiceNotifier::close() { watchdog_.cancel(); }

bool ServiceNotifier::send(const std::string& message) {
  if (!enabled()) return false;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  socket_path_.copy(a.sun_path, sizeof a.sun_path - 1);
  socklen_t len = sizeof a;
  if (socket_path_[0] == '@') {
    a.sun_path[0] = '\0';  // abstract: the name is exactly the bytes given, no terminator
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  }
  const bool ok = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&a), len) ==
                  static_cast<ssize_t>(message.size());
  ::close(fd);
  return ok;
}

void ServiceNotifier::ready(const std::string& status) {
  if (!enabled()) return;
  reloading_ = false;
  last_status_ = status;
  send("READY=1\nSTATUS=" + status);
}

void ServiceNotifier::reloading() {
  if (!enabled() || reloading_ || stopping_) return;
  reloading_ = true;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long us = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(us));
}

void ServiceNotifier::stopping() {
  if (!enabled() || stopping_) return;
  stopping_ = true;
  send("STOPPING=1");
}

void ServiceNotifier::status(const std::string& status) {
  if (!enabled() || status == last_status_) return;
  last_status_ = status;
  send("STATUS=" + status);
}

}  // namespace cppcluster
