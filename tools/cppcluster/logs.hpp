// Workers' output, split into lines: each complete line of a worker's stdout or stderr is handed
// on at once (to the LogSink, log_sink.hpp, which writes it in one write, so lines of two workers
// never interleave). A line longer than max_line is cut into several lines.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace cppcluster {

// Splits a byte stream into lines for one output stream.
class LineSplitter {
 public:
  static constexpr std::size_t max_line = 16 * 1024;
  // Calls emit with each line, without its newline (nor a '\r' before it).
  explicit LineSplitter(std::function<void(std::string_view)> emit) : emit_(std::move(emit)) {}
  // Adds bytes; every complete line is emitted at once.
  void feed(std::string_view bytes);
  // Emits what is left of an unterminated last line.
  void flush();

 private:
  void emit(std::string_view line);
  std::function<void(std::string_view)> emit_;
  std::string pending_;
};

// Writes all of data to fd, retrying on EINTR and short writes; false on another error.
bool write_all(int fd, std::string_view data);

// A supervisor message: "cppcluster: " + text on stderr, or where --log-file and --log-format
// say (LogSink::supervisor_line), in one write.
void log_line(std::string_view text);

}  // namespace cppcluster
