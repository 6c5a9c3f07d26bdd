// Workers' output: each line of a worker's stdout and stderr is written to the supervisor's own
// stdout or stderr with a "[w<id> <pid>] " prefix, in one write, so lines of two workers never
// interleave. A line longer than max_line is cut into several prefixed lines.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cppcluster {

// Splits a byte stream into prefixed lines for one output descriptor.
class LinePrefixer {
 public:
  static constexpr std::size_t max_line = 16 * 1024;
  // Writes to out_fd with prefix before each line.
  LinePrefixer(int out_fd, std::string prefix) : fd_(out_fd), prefix_(std::move(prefix)) {}
  // Adds bytes; every complete line is written at once.
  void feed(std::string_view bytes);
  // Writes what is left of an unterminated last line (with a newline added).
  void flush();
  // The complete lines feed() would write for bytes, without writing them (for tests).
  static std::string prefixed(std::string_view prefix, std::string_view line);

 private:
  void emit(std::string_view line);
  int fd_;
  std::string prefix_;
  std::string pending_;
};

// Writes all of data to fd, retrying on EINTR and short writes; false on another error.
bool write_all(int fd, std::string_view data);

// A supervisor message on stderr: "cppcluster: " + text + "\n", in one write.
void log_line(std::string_view text);

}  // namespace cppcluster
