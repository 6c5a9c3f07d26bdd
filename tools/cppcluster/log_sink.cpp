#include "log_sink.hpp"

#include "logs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace cppcluster {
namespace {

int open_log(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
}

std::string json_line(const nlohmann::json& j) {
  // A worker may print anything: bytes that are not UTF-8 become U+FFFD instead of an exception.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

const char* stream_name(OutStream s) { return s == OutStream::out ? "stdout" : "stderr"; }

}  // namespace

LogSink& LogSink::instance() {
  static LogSink sink;
  return sink;
}

void LogSink::configure(LogFormat format, const std::string& path) {
  if (!path.empty()) {
    const int fd = open_log(path);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open --log-file " + path);
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    path_ = path;
  }
  format_ = format;
}

std::error_code LogSink::reopen() {
  if (path_.empty()) return {};
  const int fd = open_log(path_);
  if (fd < 0) return {errno, std::generic_category()};
  ::close(fd_);
  fd_ = fd;
  return {};
}

std::string LogSink::now_text() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[96];  // room for any int the format could print, so it is never cut
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  return buf;
}

std::string LogSink::format_worker(LogFormat format, std::string_view time, int id, int pid, OutStream s,
                                   std::string_view line) {
  if (format == LogFormat::json) {
    return json_line({{"time", time}, {"source", "worker"}, {"worker", id}, {"pid", pid},
                      {"stream", stream_name(s)}, {"line", line}});
  }
  std::string out = "[w" + std::to_string(id) + " " + std::to_string(pid) + "] ";
  out.append(line);
  out += '\n';
  return out;
}

std::string LogSink::format_supervisor(LogFormat format, std::string_view time, int pid, std::string_view text) {
  if (format == LogFormat::json) {
    return json_line({{"time", time}, {"source", "cppcluster"}, {"worker", nullptr}, {"pid", pid},
                      {"stream", "stderr"}, {"line", text}});
  }
  std::string out = "cppcluster: ";
  out.append(text);
  out += '\n';
  return out;
}

void LogSink::write(int terminal_fd, const std::string& line) { write_all(fd_ >= 0 ? fd_ : terminal_fd, line); }

void LogSink::worker_line(int id, int pid, OutStream s, std::string_view line) {
  const std::string time = format_ == LogFormat::json ? now_text() : std::string();
  write(s == OutStream::out ? 1 : 2, format_worker(format_, time, id, pid, s, line));
}

void LogSink::supervisor_line(std::string_view text) {
  const std::string time = format_ == LogFormat::json ? now_text() : std::string();
  write(2, format_supervisor(format_, time, static_cast<int>(::getpid()), text));
}

void reopen_log_file(const std::string& why) {
  LogSink& sink = LogSink::instance();
  if (sink.path().empty()) {
    log_line(why + ": no --log-file to reopen");
  } else if (const std::error_code ec = sink.reopen()) {
    log_line(why + ": cannot reopen " + sink.path() + ": " + ec.message() + "; still writing to the file it had");
  } else {
    log_line(why + ": reopened " + sink.path());
  }
}

}  // namespace cppcluster
