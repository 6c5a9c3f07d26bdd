// Text for the 'advanced' codec: UTF-8 checks, Latin-1/UTF-16/UTF-8 conversions as V8 and Node
// do them, and the JS spellings of numbers and dates that arrive where a string is expected.
#pragma once

#include "ipc/v8_format.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace cluster::ipc::v8 {

// Length of the leading run of ASCII bytes.
inline std::size_t ascii_prefix(Bytes p, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ULL) break;
  }
  while (i < n && p[i] < 0x80) ++i;
  return i;
}

// Decodes one well-formed UTF-8 sequence (no overlongs, surrogates or values past U+10FFFF);
// returns its length, or 0 when p does not start one.
inline int decode_utf8(Bytes p, std::size_t n, char32_t& cp) {
  const unsigned c = p[0];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c < 0xE0) {
    if (!cont(1)) return 0;
    cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
    return 2;
  }
  if (c >= 0xE0 && c < 0xF0) {
    if (!cont(1) || !cont(2)) return 0;
    cp = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return 3;
  }
  if (c >= 0xF0 && c < 0xF5) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    cp = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    return 4;
  }
  return 0;
}

// A canonical array index ("0", "17", at most 4294967294), as V8 orders and encodes keys.
inline bool parse_array_index(std::string_view s, std::uint32_t& index) {
  if (s.empty() || s.size() > 10 || s[0] < '0' || s[0] > '9') return false;
  if (s[0] == '0' && s.size() > 1) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 4294967294u) return false;
  index = static_cast<std::uint32_t>(v);
  return true;
}

// Latin-1 to UTF-8 into s (replacing its contents); cannot fail.
void latin1_to_utf8(Bytes p, std::size_t n, std::string& s);

// UTF-16 (host order) to UTF-8; a lone surrogate becomes U+FFFD, as Buffer.from(string) does.
void utf16_to_utf8(Bytes p, std::size_t units, std::string& s);

// UTF-8 from the peer: kept as is when valid, else ill-formed parts become U+FFFD as V8's
// NewStringFromUtf8 does.
void sanitize_utf8(Bytes p, std::size_t n, std::string& s);

// ECMAScript Number::toString, for property keys that arrive as numbers.
std::string js_number_string(double d);

// Date.prototype.toISOString; nullopt for an invalid date (JSON.stringify then writes null).
std::optional<std::string> iso_date(double t);

}  // namespace cluster::ipc::v8
