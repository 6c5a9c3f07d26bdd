// Where the lines of `cppcluster run` go: its workers' stdout and stderr, line by line, and the
// supervisor's own messages. By default the terminal (a worker's stdout to stdout, its stderr
// and the supervisor's lines to stderr); with --log-file one file for all of them, appended to,
// which reopen() (SIGUSR1) opens again by its path, so logrotate's move-then-signal works. As text
// ("[wID PID] line", "cppcluster: message") or JSON lines (--log-format json). Each line is one
// write() on a single-threaded loop: lines of two workers never interleave.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace cppcluster {

// The shape of a log line: "[w3 1234] text" or {"time":..., "worker":3, ...}.
enum class LogFormat { text, json };

// Which of a worker's streams a line came from.
enum class OutStream { out, err };

class LogSink {
 public:
  // The process's sink: text on the terminal until configure() says otherwise.
  static LogSink& instance();

  // Sets the format and, when path is not empty, opens path (created 0640, appended to) for
  // every line from now on. Throws std::system_error naming the path when it cannot be opened;
  // the sink is unchanged then.
  void configure(LogFormat format, const std::string& path);
  // Opens the file's path again (after logrotate moved it) and writes there from now on; the
  // error, with the old file kept, when it cannot be opened; nothing to do (no error) without a
  // file.
  std::error_code reopen();
  // The --log-file path ("" for the terminal).
  const std::string& path() const noexcept { return path_; }

  // Writes one line of worker id (process pid) from stream s.
  void worker_line(int id, int pid, OutStream s, std::string_view line);
  // Writes one message of the supervisor's own.
  void supervisor_line(std::string_view text);

  // A worker's line as the sink writes it in format, newline included (invalid UTF-8 in JSON
  // is replaced by U+FFFD). time is RFC 3339 UTC ("2026-12-03T12:36:02.123Z").
  static std::string format_worker(LogFormat format, std::string_view time, int id, int pid, OutStream s,
                                   std::string_view line);
  // The supervisor's message as written: "cppcluster: text" or JSON with "source":"cppcluster"
  // and "worker":null.
  static std::string format_supervisor(LogFormat format, std::string_view time, int pid, std::string_view text);
  // Now as RFC 3339 UTC with milliseconds.
  static std::string now_text();

 private:
  LogSink() = default;
  void write(int terminal_fd, const std::string& line);

  LogFormat format_ = LogFormat::text;
  std::string path_;
  int fd_ = -1;  // the file, or -1 for the terminal
};

// SIGUSR1: reopens the --log-file and says so in the new file ("why: reopened PATH"), or says
// in the old one why it could not (the lines keep going there).
void reopen_log_file(const std::string& why);

}  // namespace cppcluster
