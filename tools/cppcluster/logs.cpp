#include "logs.hpp"

#include "log_sink.hpp"

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

void log_line(std::string_view text) { LogSink::instance().supervisor_line(text); }

void LineSplitter::emit(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  while (line.size() > max_line) {
    emit_(line.substr(0, max_line));
    line.remove_prefix(max_line);
  }
  emit_(line);
}

void LineSplitter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      if (pending_.size() >= max_line) {
        const std::size_t whole = pending_.size() / max_line * max_line;
        for (std::size_t at = 0; at < whole; at += max_line) emit_(std::string_view(pending_).substr(at, max_line));
        pending_.erase(0, whole);
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

void LineSplitter::flush() {
  if (pending_.empty()) return;
  emit(pending_);
  pending_.clear();
}

}  // namespace cppcluster
