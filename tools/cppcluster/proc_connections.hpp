// Connection counts of plain programs, which do not report them over a cluster channel: the TCP
// connections a process holds, read from /proc (its descriptors and the kernel's socket tables).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <vector>

namespace cppcluster {

// For each pid, the established TCP connections (IPv4 and IPv6) among its open descriptors; a pid
// whose descriptors cannot be read (gone, or another user's) is left out of the result.
std::map<pid_t, std::uint64_t> established_connections(const std::vector<pid_t>& pids);

}  // namespace cppcluster
