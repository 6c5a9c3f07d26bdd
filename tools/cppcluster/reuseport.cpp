#include "reuseport.hpp"

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace cppcluster {
namespace {

// The most members a steering program can pick among: two instructions each, within the
// classic BPF limit of 4096 instructions.
constexpr std::size_t max_steered = 2000;

// A member socket on the placeholder's address; -errno on failure.
int open_member(const BoundSocket& placeholder, int backlog) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(placeholder.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -errno;
  const bool stream = placeholder.spec.kind == ListenSpec::Kind::tcp;
  const int fd = ::socket(ss.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const int one = 1;
  if (stream) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (ss.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || (stream && ::listen(fd, backlog) != 0)) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

// A classic BPF program returning one of indices at random (SKF_AD_RANDOM modulo their number).
std::vector<sock_filter> pick_one_of(const std::vector<std::size_t>& indices) {
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_RANDOM)));
  p.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, static_cast<__u32>(indices.size())));
  for (std::size_t j = 0; j < indices.size(); ++j) {
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<__u32>(j), 0, 1));
    p.push_back(BPF_STMT(BPF_RET | BPF_K, static_cast<__u32>(indices[j])));
  }
  p.push_back(BPF_STMT(BPF_RET | BPF_K, static_cast<__u32>(indices.front())));
  return p;
}

}  // namespace

struct ReuseportGroups::Drain {
  std::function<void()> done;
  cluster::Timer check, deadline;
  int empty_checks = 0;
};

ReuseportGroups::ReuseportGroups(const std::vector<BoundSocket>& placeholders, int backlog) : backlog_(backlog) {
  for (const auto& p : placeholders) {
    Group g{p, {}};
    // A UDP placeholder joined the group when it was bound: it is the first member.
    if (p.spec.kind == ListenSpec::Kind::udp) g.order.push_back({p.fd, 0, false});
    groups_.push_back(std::move(g));
  }
}

ReuseportGroups::~ReuseportGroups() {
  for (auto& [id, d] : drains_) {
    d->check.cancel();
    d->deadline.cancel();
  }
  for (auto& g : groups_) {
    for (auto& m : g.order) {
      if (m.id != 0) ::close(m.fd);
    }
  }
}

std::vector<int> ReuseportGroups::add(int id) {
  std::vector<int> fds;
  for (auto& g : groups_) {
    const int fd = open_member(g.address, backlog_);
    if (fd < 0) {
      remove(id);
      throw std::system_error(-fd, std::generic_category(),
                              "cannot open worker " + std::to_string(id) + "'s socket on " + g.address.address);
    }
    g.order.push_back({fd, id, false});
    fds.push_back(fd);
  }
  return fds;
}

std::vector<std::vector<std::pair<int, int>>> ReuseportGroups::members() const {
  std::vector<std::vector<std::pair<int, int>>> out;
  for (const auto& g : groups_) {
    auto& members = out.emplace_back();
    for (const auto& m : g.order) members.emplace_back(m.fd, m.id);
  }
  return out;
}

void ReuseportGroups::adopt(const std::vector<std::vector<std::pair<int, int>>>& groups) {
  for (std::size_t i = 0; i < groups.size() && i < groups_.size(); ++i) {
    groups_[i].order.clear();
    for (const auto& [fd, id] : groups[i]) groups_[i].order.push_back({fd, id, false});
  }
}

bool ReuseportGroups::steer(Group& g, const std::vector<std::size_t>& skip) {
  std::vector<std::size_t> live;
  bool any_retiring = false;
  for (std::size_t i = 0; i < g.order.size(); ++i) {
    const Member& m = g.order[i];
    if (m.id == 0) continue;
    any_retiring = any_retiring || m.retiring;
    if (!m.retiring && std::find(skip.begin(), skip.end(), i) == skip.end()) live.push_back(i);
  }
  int any_fd = -1;
  for (const auto& m : g.order) {
    if (m.id != 0) any_fd = m.fd;
  }
  if (any_fd < 0) return false;
  if (!any_retiring && skip.empty()) {
    // The kernel's own hash again (it keeps a flow's datagrams on one socket).
    ::setsockopt(any_fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, nullptr, 0);
    return true;
  }
  if (live.empty() || live.size() > max_steered) return false;
  auto prog = pick_one_of(live);
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  return ::setsockopt(any_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) == 0;
}

bool ReuseportGroups::queue_empty(int fd, bool stream) {
  if (stream) {
    tcp_info info{};
    socklen_t len = sizeof info;
    // For a listening socket tcpi_unacked is the accept queue's length.
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return true;
    return info.tcpi_state != TCP_LISTEN || info.tcpi_unacked == 0;
  }
  char byte;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0;
}

void ReuseportGroups::drain(int id, std::chrono::milliseconds max_wait, std::function<void()> done) {
  bool has = false, steered = true;
  for (auto& g : groups_) {
    for (auto& m : g.order) {
      if (m.id != id) continue;
      has = true;
      m.retiring = true;
      steered = steer(g) && steered;
    }
  }
  if (!has || !steered || drains_.count(id)) {
    if (done) done();
    return;
  }
  auto d = std::make_shared<Drain>();
  d->done = std::move(done);
  drains_[id] = d;
  const auto finish = [this, id] {
    auto it = drains_.find(id);
    if (it == drains_.end()) return;
    auto dd = it->second;
    drains_.erase(it);
    dd->check.cancel();
    dd->deadline.cancel();
    if (dd->done) dd->done();
  };
  d->check = cluster::set_interval([this, id, finish] {
    auto it = drains_.find(id);
    if (it == drains_.end()) return;
    bool empty = true;
    for (auto& g : groups_) {
      for (auto& m : g.order) {
        if (m.id == id) empty = empty && queue_empty(m.fd, g.address.spec.kind == ListenSpec::Kind::tcp);
      }
    }
    // Twice: a connection whose handshake began before the steering may still be completing.
    it->second->empty_checks = empty ? it->second->empty_checks + 1 : 0;
    if (it->second->empty_checks >= 2) finish();
  }, std::chrono::milliseconds(20));
  d->deadline = cluster::set_timeout(finish, max_wait);
}

void ReuseportGroups::remove(int id) {
  if (auto it = drains_.find(id); it != drains_.end()) {
    // It exited while draining: nothing left to tell it.
    it->second->check.cancel();
    it->second->deadline.cancel();
    drains_.erase(it);
  }
  for (auto& g : groups_) {
    auto it = std::find_if(g.order.begin(), g.order.end(), [id](const Member& m) { return m.id == id; });
    if (it == g.order.end()) continue;
    const std::size_t r = static_cast<std::size_t>(it - g.order.begin());
    const std::size_t last = g.order.size() - 1;
    // The kernel moves its last member into the hole: a program that picks neither is right
    // both before and after the close.
    if (!steer(g, {r, last})) steer(g, {r});
    ::close(it->fd);
    g.order[r] = g.order[last];
    g.order.pop_back();
    steer(g);
  }
}

}  // namespace cppcluster
