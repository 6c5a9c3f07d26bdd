// The sd_notify protocol, supervisor side: one Unix datagram socket per worker (in the
// supervisor's private 0700 directory, so no other user can send on it), whose datagrams
// ("READY=1\nSTATUS=...\n") are parsed and handed to a callback on the loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace cppcluster {

// The assignments of one notify datagram ("READY" -> "1"), in order of appearance; a key
// given twice keeps its last value. Lines without '=' are ignored, as systemd ignores them.
std::map<std::string, std::string> parse_notify(std::string_view datagram);

// A bound notify socket, read on the cluster loop. Closing (destroying) it removes its file.
class NotifySocket {
 public:
  using Callback = std::function<void(const std::map<std::string, std::string>&)>;
  // Binds path (which must not exist) and calls cb for each datagram. Throws std::system_error
  // when the socket cannot be made or bound.
  NotifySocket(std::string path, Callback cb);
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  ~NotifySocket();
  // The path to put in NOTIFY_SOCKET.
  const std::string& path() const noexcept { return path_; }
  // Reads the datagrams already waiting, now, calling the callback for each (the watchdog asks
  // before it judges: pings may wait unread while the loop was busy). Never fails.
  void read_pending();

 private:
  struct Poll;
  static void drain(Poll* p, int max);
  std::string path_;
  Poll* poll_ = nullptr;  // freed by its close callback
};

// Sends one notify datagram to $NOTIFY_SOCKET (a path or an "@abstract" name), as sd_notify()
// does; false when the variable is unset or the send failed. Used for the supervisor's own
// readiness under systemd.
bool sd_notify_send(std::string_view state);

}  // namespace cppcluster
