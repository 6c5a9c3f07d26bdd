#include "pool/proc_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace cluster::detail {
namespace {

// Reads a small /proc file into buf with one open and read; returns the length, 0 on failure.
std::size_t read_small(const std::string& path, char* buf, std::size_t size) {
  int fd;
  do fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return 0;
  ssize_t n;
  do n = ::read(fd, buf, size);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

// Skips spaces, then parses a number (tpgid may be -1); false at the end or on anything else.
bool next_number(std::string_view& s, std::int64_t& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{}) return false;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return true;
}

}  // namespace

std::uint64_t read_rss_bytes(int pid) {
  if (pid <= 0) return 0;
  char buf[256];
  const std::size_t n = read_small("/proc/" + std::to_string(pid) + "/statm", buf, sizeof buf);
  std::string_view s(buf, n);
  std::int64_t size_pages = 0, resident_pages = 0;
  if (!next_number(s, size_pages) || !next_number(s, resident_pages) || resident_pages < 0) return 0;
  static const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<std::uint64_t>(resident_pages) * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

std::uint64_t parse_stat_cpu_ticks(std::string_view stat) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
  // from the last ')'. utime and stime are fields 14 and 15, the 12th and 13th after it.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return 0;
  std::string_view s = stat.substr(close + 1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.empty()) return 0;
  s.remove_prefix(1);  // state, a letter
  std::int64_t v = 0, utime = 0, stime = 0;
  for (int field = 4; field <= 15; ++field) {
    if (!next_number(s, v)) return 0;
    if (field == 14) utime = v;
    if (field == 15) stime = v;
  }
  return utime >= 0 && stime >= 0 ? static_cast<std::uint64_t>(utime + stime) : 0;
}

std::chrono::milliseconds read_cpu_time(int pid) {
  if (pid <= 0) return std::chrono::milliseconds(0);
  char buf[1024];
  const std::size_t n = read_small("/proc/" + std::to_string(pid) + "/stat", buf, sizeof buf);
  const std::uint64_t ticks = parse_stat_cpu_ticks(std::string_view(buf, n));
  static const long hz = ::sysconf(_SC_CLK_TCK);
  return std::chrono::milliseconds(ticks * 1000 / static_cast<std::uint64_t>(hz > 0 ? hz : 100));
}

}  // namespace cluster::detail
