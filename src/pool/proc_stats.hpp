// A worker's resident memory and CPU time, read from Linux's /proc (small reads, no caching).
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace cluster::detail {

// Resident memory of pid in bytes (/proc/<pid>/statm: resident pages, shared ones included);
// 0 when the process is gone or the file cannot be read.
std::uint64_t read_rss_bytes(int pid);
// User + system CPU time of pid (/proc/<pid>/stat, in clock ticks); 0 when unreadable.
std::chrono::milliseconds read_cpu_time(int pid);
// The user + system clock ticks in the text of a /proc/<pid>/stat file; 0 when malformed.
std::uint64_t parse_stat_cpu_ticks(std::string_view stat);

}  // namespace cluster::detail
