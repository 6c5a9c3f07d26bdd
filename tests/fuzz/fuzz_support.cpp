#include "fuzz_support.hpp"

#include <cluster/cluster.hpp>
#include <uv.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace fuzz {

std::uint8_t Input::u8() {
  if (n_ == 0) return 0;
  --n_;
  return *p_++;
}

std::uint16_t Input::u16() {
  const std::uint16_t lo = u8();
  return static_cast<std::uint16_t>(lo | (u8() << 8));
}

std::uint64_t Input::u64() {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{u8()} << (8 * i);
  return v;
}

std::string_view Input::bytes(std::size_t n) {
  n = std::min(n, n_);
  std::string_view v(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  n_ -= n;
  return v;
}

std::uint64_t hash(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t Rng::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<std::string_view> chunks(std::string_view bytes, Rng& rng) {
  std::vector<std::string_view> out;
  while (!bytes.empty()) {
    std::size_t n;
    switch (rng.below(4)) {
      case 0: n = 1; break;
      case 1: n = 1 + rng.below(8); break;
      case 2: n = 1 + rng.below(64); break;
      default: n = 1 + rng.below(bytes.size()); break;
    }
    n = std::min(n, bytes.size());
    out.push_back(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  return out;
}

bool same(const cluster::Message& a, const cluster::Message& b, Numbers numbers) {
  if (numbers == Numbers::by_value && a.is_number() && b.is_number()) {
    if (!a.is_number_float() && !b.is_number_float()) return a == b;
    const double x = a.get<double>(), y = b.get<double>();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return x == y && std::signbit(x) == std::signbit(y);
  }
  if (a.type() != b.type()) return false;
  if (a.is_number_float()) return std::bit_cast<std::uint64_t>(a.get<double>()) == std::bit_cast<std::uint64_t>(b.get<double>());
  if (a.is_binary()) return a.get_binary() == b.get_binary();
  if (a.is_array() || a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
      if (a.is_object() && i.key() != j.key()) return false;
      if (!same(i.value(), j.value(), numbers)) return false;
    }
    return true;
  }
  return a == b;
}

std::string show(const cluster::Message& m) {
  std::string s = m.dump(-1, ' ', true, cluster::Message::error_handler_t::replace);
  return s.size() > 400 ? s.substr(0, 400) + "..." : s;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "\nFUZZ INVARIANT BROKEN: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

std::size_t open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) fail("cannot list /proc/self/fd");
  std::size_t n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

std::string list_fds() {
  std::string out;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(link.c_str(), target, sizeof target - 1) < 0) continue;
    out += std::string(e->d_name) + " " + target + "\n";
  }
  ::closedir(d);
  return out;
}

void pump(const std::function<bool()>& done, int max_turns) {
  uv_loop_t* loop = cluster::loop();
  for (int i = 0; i < max_turns && !done(); ++i) uv_run(loop, UV_RUN_NOWAIT);
  uv_run(loop, UV_RUN_NOWAIT);
  uv_run(loop, UV_RUN_NOWAIT);
}

void close_all(std::vector<int>& fds) {
  for (int f : fds) ::close(f);
  fds.clear();
}

}  // namespace fuzz
