#include "logs.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace cppcluster {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      // A non-blocking terminal or pipe shared with others: wait until it drains.
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
    } else {
      return false;
    }
  }
  return true;
}

void log_line(std::string_view text) {
  std::string s = "cppcluster: ";
  s.append(text);
  s += '\n';
  write_all(2, s);
}

std::string LinePrefixer::prefixed(std::string_view prefix, std::string_view line) {
  std::string s;
  s.reserve(prefix.size() + line.size() + 1);
  s.append(prefix);
  s.append(line);
  s += '\n';
  return s;
}

void LinePrefixer::emit(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  write_all(fd_, prefixed(prefix_, line));
}

void LinePrefixer::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      while (pending_.size() >= max_line) {
        emit(std::string_view(pending_).substr(0, max_line));
        pending_.erase(0, max_line);
      }
      return;
    }
    if (pending_.empty()) {
      emit(bytes.substr(0, nl));
    } else {
      pending_.append(bytes.substr(0, nl));
      emit(pending_);
      pending_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
}

void LinePrefixer::flush() {
  if (pending_.empty()) return;
  emit(pending_);
  pending_.clear();
}

}  // namespace cppcluster
