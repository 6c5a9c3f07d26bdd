// Helpers the fuzz targets share: reading the input as typed fields, choices derived from the
// input's bytes, value comparison, descriptor counting and running the loop.
#pragma once

#include <cluster/message.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

// Reads typed fields off the front of the input; past the end everything reads as zero.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const noexcept { return n_ == 0; }
  std::size_t left() const noexcept { return n_; }
  // The next byte (0 once the input is used up).
  std::uint8_t u8();
  // The next two bytes, little-endian.
  std::uint16_t u16();
  // The next eight bytes, little-endian.
  std::uint64_t u64();
  // The next n bytes, or what is left when fewer remain.
  std::string_view bytes(std::size_t n);
  // Everything left.
  std::string_view rest() { return bytes(n_); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// A 64-bit FNV-1a hash of bytes: the seed for choices that must not consume the input.
std::uint64_t hash(std::string_view bytes);

// A small deterministic generator (splitmix64) seeded from the input.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  // A value in [0, n) (n > 0).
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t s_;
};

// bytes cut into pieces at positions chosen by rng: mostly short pieces, some single bytes,
// some long runs, so that frames are split everywhere and also arrive whole.
std::vector<std::string_view> chunks(std::string_view bytes, Rng& rng);

// How same() compares numbers: by value (an unsigned 1 equals an integer 1 and a 1.0; -0
// differs from 0; NaN equals NaN), or exactly (the same kind, doubles bit for bit).
enum class Numbers { by_value, exact };

// Value equality: numbers as told, object keys in the same order, binary byte for byte.
bool same(const cluster::Message& a, const cluster::Message& b, Numbers numbers = Numbers::by_value);

// A readable, shortened dump of m for failure messages.
std::string show(const cluster::Message& m);

// Prints what broke and aborts, so that libFuzzer records the input as a crash.
[[noreturn]] void fail(const std::string& what);

// The number of descriptors this process has open (entries of /proc/self/fd).
std::size_t open_fds();

// What each open descriptor is ("3 socket:[123]" lines), for a leak's report.
std::string list_fds();

// Runs the default loop without blocking until done() or max_turns turns, then two more turns so
// that ticks and close callbacks queued by the last one run.
void pump(const std::function<bool()>& done, int max_turns = 64);

// Closes every descriptor in fds and empties it.
void close_all(std::vector<int>& fds);

}  // namespace fuzz
