#include "proc_connections.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace cppcluster {
namespace {

// The inodes of the sockets among pid's descriptors; false when /proc/PID/fd cannot be read.
bool socket_inodes(pid_t pid, std::unordered_map<unsigned long, pid_t>& owner) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  char target[64];
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string link = dir + "/" + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) owner.emplace(inode, pid);
  }
  ::closedir(d);
  return true;
}

// Adds to counts each established connection of /proc/net/tcp or tcp6 whose inode is owned.
void count_table(const char* path, const std::unordered_map<unsigned long, pid_t>& owner,
                 std::map<pid_t, std::uint64_t>& counts) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return;
  char line[512];
  bool header = true;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (header) {
      header = false;
      continue;
    }
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    unsigned state = 0;
    unsigned long inode = 0;
    if (std::sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &state, &inode) != 2) continue;
    if (state != 0x01) continue;  // TCP_ESTABLISHED
    if (auto it = owner.find(inode); it != owner.end()) ++counts[it->second];
  }
  std::fclose(f);
}

}  // namespace

std::map<pid_t, std::uint64_t> established_connections(const std::vector<pid_t>& pids) {
  std::unordered_map<unsigned long, pid_t> owner;
  std::map<pid_t, std::uint64_t> counts;
  for (pid_t pid : pids) {
    if (socket_inodes(pid, owner)) counts[pid] = 0;
  }
  if (owner.empty()) return counts;
  count_table("/proc/net/tcp", owner, counts);
  count_table("/proc/net/tcp6", owner, counts);
  return counts;
}

}  // namespace cppcluster
