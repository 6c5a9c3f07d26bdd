// The Scheduler type and its built-ins (include/cluster/scheduler.hpp). The primary's
// RoundRobinHandle calls them; fair() is run there without the call (the same rule, inlined).
#include "cluster/scheduler.hpp"

#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>

namespace cluster {
namespace {

// splitmix64's finalizer: a cheap, well-mixed 64-bit permutation.
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return mix(h);
}

// Fewest offers among the ready candidates, the longest-waiting on a tie.
int pick_fair(const Pick& p) {
  const Candidate* best = nullptr;
  for (const Candidate& c : p.candidates) {
    if (!c.ready) continue;
    if (!best || c.offered < best->offered || (c.offered == best->offered && c.last_offer < best->last_offer)) {
      best = &c;
    }
  }
  return best ? best->id : -1;
}

// Fewest open + unanswered connections among the ready candidates; when one of them does not
// report its closes, open counts cannot be compared, so every one is weighed by unanswered +
// offered (the fair rule's count). Ties: fewer offers, then the longest-waiting.
int pick_least_connections(const Pick& p) {
  bool all_report = true;
  for (const Candidate& c : p.candidates) all_report = all_report && c.open >= 0;
  auto load = [all_report](const Candidate& c) {
    return all_report ? static_cast<std::uint64_t>(c.open) + c.in_flight : c.offered + c.in_flight;
  };
  const Candidate* best = nullptr;
  std::uint64_t best_load = 0;
  for (const Candidate& c : p.candidates) {
    if (!c.ready) continue;
    const std::uint64_t l = load(c);
    if (!best || l < best_load ||
        (l == best_load && (c.offered < best->offered ||
                            (c.offered == best->offered && c.last_offer < best->last_offer)))) {
      best = &c;
      best_load = l;
    }
  }
  return best ? best->id : -1;
}

// The candidate with the highest rendezvous weight for the client's address, ready or not (a busy
// one is waited for: see the header).
int pick_sticky(const Pick& p) {
  if (!p.peer) return -1;
  const std::uint64_t h = address_hash(p.peer, p.peer_len);
  const Candidate* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const Candidate& c : p.candidates) {
    const std::uint64_t w = rendezvous_weight(h, c.id);
    if (!best || w > best_weight) {
      best = &c;
      best_weight = w;
    }
  }
  return best->id;
}

}  // namespace

Scheduler::Scheduler(std::string name, PickFn pick, Needs needs)
    : Scheduler(Kind::custom, std::move(name), std::move(pick), needs) {
  if (!pick_) throw std::invalid_argument("Scheduler: the pick function is empty");
}

Scheduler::Scheduler(Kind kind, std::string name, PickFn pick, Needs needs)
    : kind_(kind), name_(std::move(name)), pick_(std::move(pick)), needs_(needs) {}

Scheduler Scheduler::fair() { return Scheduler(Kind::fair, "fair", pick_fair, Needs::nothing); }

Scheduler Scheduler::least_connections() {
  return Scheduler(Kind::least_connections, "least_connections", pick_least_connections, Needs::nothing);
}

Scheduler Scheduler::sticky() { return Scheduler(Kind::sticky, "sticky", pick_sticky, Needs::peer_address); }

std::uint64_t rendezvous_weight(std::uint64_t address_hash, int worker) noexcept {
  return mix(address_hash ^ mix(static_cast<std::uint64_t>(static_cast<std::uint32_t>(worker))));
}

std::uint64_t address_hash(const sockaddr* peer, socklen_t len) noexcept {
  if (!peer) return 0;
  if (peer->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(peer);
    return fnv1a(reinterpret_cast<const unsigned char*>(&a->sin_addr), 4);
  }
  if (peer->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(peer);
    const auto* b = reinterpret_cast<const unsigned char*>(&a->sin6_addr);
    // An IPv4 client of a dual-stack server hashes as the same client over IPv4.
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return fnv1a(b + 12, 4);
    return fnv1a(b, 16);
  }
  if (peer->sa_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const sockaddr_un*>(peer);
    const std::size_t off = offsetof(sockaddr_un, sun_path);
    const std::size_t n = len > static_cast<socklen_t>(off) ? static_cast<std::size_t>(len) - off : 0;
    return fnv1a(reinterpret_cast<const unsigned char*>(a->sun_path), std::min(n, sizeof a->sun_path));
  }
  return 0;
}

}  // namespace cluster
