// The 'advanced' framing (lib/internal/child_process/serialization.js, advanced), as node 20
// (V8 11.3, serializer format version 15) writes it:
//
//   frame   = u32 big-endian payload length, payload
//   payload = FF varint(version) value          (Node writes FF 0F; versions <= 15 are read)
//   value   = '0' null | 'T' true | 'F' false | '_' undefined
//           | 'I' zigzag-varint int32 (a Smi) | 'U' varint uint32 | 'N' f64 (host order, LE here)
//           | 'Z' varint(bitfield: sign | byte length << 1) digits, little-endian
//           | '"' varint(n) Latin-1 bytes | 'c' varint(n) UTF-16 code units | 'S' varint(n) UTF-8
//           | 'o' (key value)* '{' varint(count)
//           | 'A' varint(len) value{len} (key value)* '$' varint(count) varint(len)  (dense array)
//           | 'a' varint(len) (key value)* '@' varint(count) varint(len)           (sparse array)
//           | 'D' f64 ms | 'R' string varint(flags) | ';' (k v)* ':' varint(2n) | '\'' v* ',' varint(n)
//           | 'y' | 'x' | 'n' f64 | 'z' bigint | 's' string          (Boolean/Number/... objects)
//           | 'B' varint(n) bytes ['V' view] | 'r' error fields '.' | '^' varint(object id)
//           | '\\' varint(0) varint(type) varint(n) bytes   (Node: an ArrayBufferView, 10 = Buffer)
//           | '\\' varint(1) value                           (Node: another host object, copied)
//   '\0' padding may precede any tag: V8 puts one before 'c' when the UTF-16 data would otherwise
//   start at an odd offset of the serializer's buffer, which begins with the 4 length bytes.
//   Object keys are strings, or 'I'/'N' numbers for array indices (V8 lists those first).
//   Every object-like value (not strings or numbers) gets the next id in the order it starts;
//   '^' refers back to one. Our encoder writes only trees, so never '^'.
// docs/serialization.md lists how each V8 value maps to a Message and back.
#include "ipc/v8_codec.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace cluster::ipc {
namespace {

static_assert(std::endian::native == std::endian::little,
              "V8 writes doubles and UTF-16 in host order; this codec assumes a little-endian host");

constexpr std::uint32_t latest_version = 15;
// Nesting deeper than this is refused both ways (V8 itself is bounded only by its stack).
constexpr int max_depth = 1000;
// V8's String::kMaxLength on 64-bit hosts: longer strings cannot exist on the Node side.
constexpr std::size_t max_string_length = (std::size_t{1} << 29) - 24;
// Node's arrayBufferViewTypes index of a Buffer (lib/v8.js).
constexpr std::uint32_t node_buffer_index = 10;

using Bytes = const unsigned char*;

// ---------------------------------------------------------------------------------------------
// Text helpers.

// Length of the leading run of ASCII bytes.
std::size_t ascii_prefix(Bytes p, std::size_t n) {
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
int decode_utf8(Bytes p, std::size_t n, char32_t& cp) {
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

// The length of the maximal ill-formed subpart at p (WHATWG: one U+FFFD replaces it).
std::size_t invalid_utf8_length(Bytes p, std::size_t n) {
  const unsigned c = p[0];
  int need = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  std::size_t k = 1;
  for (; need > 0 && k < n; --need, ++k) {
    if (p[k] < lo || p[k] > hi) break;
    lo = 0x80;
    hi = 0xBF;
  }
  return k;
}

void append_utf8(char32_t cp, std::string& s) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void latin1_to_utf8(Bytes p, std::size_t n, std::string& s) {
  const std::size_t ascii = ascii_prefix(p, n);
  if (ascii == n) {
    s.assign(reinterpret_cast<const char*>(p), n);
    return;
  }
  std::size_t high = 0;
  for (std::size_t i = ascii; i < n; ++i) high += p[i] >> 7;
  s.resize(n + high);
  char* d = s.data();
  std::memcpy(d, p, ascii);
  d += ascii;
  for (std::size_t i = ascii; i < n; ++i) {
    const unsigned c = p[i];
    if (c < 0x80) {
      *d++ = static_cast<char>(c);
    } else {
      *d++ = static_cast<char>(0xC0 | (c >> 6));
      *d++ = static_cast<char>(0x80 | (c & 0x3F));
    }
  }
}

// UTF-16 (host order) to UTF-8; a lone surrogate becomes U+FFFD, as Buffer.from(string) does.
void utf16_to_utf8(Bytes p, std::size_t units, std::string& s) {
  auto unit = [p](std::size_t i) {
    std::uint16_t u;
    std::memcpy(&u, p + 2 * i, 2);
    return u;
  };
  std::size_t size = 0;
  for (std::size_t i = 0; i < units; ++i) {
    const std::uint16_t u = unit(i);
    if (u < 0x80) {
      size += 1;
    } else if (u < 0x800) {
      size += 2;
    } else if (u >= 0xD800 && u < 0xDC00 && i + 1 < units && unit(i + 1) >= 0xDC00 &&
               unit(i + 1) < 0xE000) {
      size += 4;
      ++i;
    } else {
      size += 3;
    }
  }
  s.clear();
  s.reserve(size);
  for (std::size_t i = 0; i < units; ++i) {
    char32_t cp = unit(i);
    if (cp >= 0xD800 && cp < 0xE000) {
      if (cp < 0xDC00 && i + 1 < units && unit(i + 1) >= 0xDC00 && unit(i + 1) < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (unit(i + 1) - 0xDC00);
        ++i;
      } else {
        cp = 0xFFFD;
      }
    }
    append_utf8(cp, s);
  }
}

// UTF-8 from the peer: kept as is when valid, else ill-formed parts become U+FFFD as V8's
// NewStringFromUtf8 does.
void sanitize_utf8(Bytes p, std::size_t n, std::string& s) {
  std::size_t i = ascii_prefix(p, n);
  while (i < n) {
    char32_t cp;
    const int len = decode_utf8(p + i, n - i, cp);
    if (len == 0) break;
    i += static_cast<std::size_t>(len);
  }
  if (i == n) {
    s.assign(reinterpret_cast<const char*>(p), n);
    return;
  }
  s.assign(reinterpret_cast<const char*>(p), i);
  while (i < n) {
    char32_t cp;
    const int len = decode_utf8(p + i, n - i, cp);
    if (len > 0) {
      s.append(reinterpret_cast<const char*>(p + i), static_cast<std::size_t>(len));
      i += static_cast<std::size_t>(len);
    } else {
      s += "\xEF\xBF\xBD";
      i += invalid_utf8_length(p + i, n - i);
    }
  }
}

// A canonical array index ("0", "17", at most 4294967294), as V8 orders and encodes keys.
bool parse_array_index(std::string_view s, std::uint32_t& index) {
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

// ECMAScript Number::toString, for property keys that arrive as numbers.
std::string js_number_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return "0";
  std::string out;
  if (d < 0) {
    out += '-';
    d = -d;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  const auto e = sci.find('e');
  std::string digits(1, sci[0]);
  if (e > 1) digits.append(sci.substr(2, e - 2));
  int exp10 = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += (n - 1 >= 0) ? "e+" : "e-";
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

// Date.prototype.toISOString; nullopt for an invalid date (JSON.stringify then writes null).
std::optional<std::string> iso_date(double t) {
  if (!std::isfinite(t) || std::fabs(t) > 8.64e15) return std::nullopt;
  const auto ms = static_cast<std::int64_t>(std::trunc(t));
  std::int64_t days = ms / 86400000;
  std::int64_t rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[96];
  char ybuf[24];
  if (year >= 0 && year <= 9999) {
    std::snprintf(ybuf, sizeof ybuf, "%04lld", static_cast<long long>(year));
  } else {
    std::snprintf(ybuf, sizeof ybuf, "%c%06lld", year < 0 ? '-' : '+',
                  static_cast<long long>(year < 0 ? -year : year));
  }
  std::snprintf(buf, sizeof buf, "%s-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", ybuf,
                static_cast<long long>(month), static_cast<long long>(day),
                static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return std::string(buf);
}

// A JS number as a Message: integral values within +-2^53 (but not -0) become integers.
Message number_message(double d) {
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0 && !(d == 0 && std::signbit(d))) {
    return Message(static_cast<std::int64_t>(d));
  }
  return Message(d);
}

std::string tag_text(unsigned t) {
  char buf[24];
  if (t >= 0x20 && t < 0x7F) {
    std::snprintf(buf, sizeof buf, "0x%02x '%c'", t, static_cast<char>(t));
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", t);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Encoding.

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// The int32 a JS number would hold as a Smi (V8 writes those as 'I'), if m is one.
bool as_smi(const Message& m, std::int32_t& v) {
  switch (m.type()) {
    case Message::value_t::number_integer: {
      const auto i = m.get_ref<const Message::number_integer_t&>();
      if (i < std::numeric_limits<std::int32_t>::min() || i > std::numeric_limits<std::int32_t>::max()) {
        return false;
      }
      v = static_cast<std::int32_t>(i);
      return true;
    }
    case Message::value_t::number_unsigned: {
      const auto u = m.get_ref<const Message::number_unsigned_t&>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) return false;
      v = static_cast<std::int32_t>(u);
      return true;
    }
    case Message::value_t::number_float: {
      const double d = m.get_ref<const Message::number_float_t&>();
      if (!(d >= -2147483648.0 && d <= 2147483647.0) || std::trunc(d) != d) return false;
      if (d == 0 && std::signbit(d)) return false;
      v = static_cast<std::int32_t>(d);
      return true;
    }
    default: return false;
  }
}

double as_double(const Message& m) {
  switch (m.type()) {
    case Message::value_t::number_integer:
      return static_cast<double>(m.get_ref<const Message::number_integer_t&>());
    case Message::value_t::number_unsigned:
      return static_cast<double>(m.get_ref<const Message::number_unsigned_t&>());
    default: return m.get_ref<const Message::number_float_t&>();
  }
}

class Encoder {
 public:
  Encoder(std::string& out, std::size_t frame_start) : out_(out), frame_start_(frame_start) {}

  std::error_code value(const Message& m, int depth) {
    if (depth > max_depth) return make_error_code(errc::unsupported_value);
    switch (m.type()) {
      case Message::value_t::null:
      case Message::value_t::discarded: out_ += '0'; return {};
      case Message::value_t::boolean: out_ += m.get<bool>() ? 'T' : 'F'; return {};
      case Message::value_t::number_integer:
      case Message::value_t::number_unsigned:
      case Message::value_t::number_float: number(m); return {};
      case Message::value_t::string: return string(m.get_ref<const std::string&>());
      case Message::value_t::array: return array(m.get_ref<const Message::array_t&>(), depth);
      case Message::value_t::object: return object(m.get_ref<const Message::object_t&>(), depth);
      case Message::value_t::binary: return buffer(m.get_binary());
    }
    return make_error_code(errc::unsupported_value);
  }

 private:
  void varint(std::uint64_t v) {
    char buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_.append(buf, n);
  }

  void smi(std::int32_t v) {
    out_ += 'I';
    varint((static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31));
  }

  void heap_number(double d) {
    // JS has one NaN; V8 writes the canonical quiet NaN.
    std::uint64_t bits = std::isnan(d) ? 0x7FF8000000000000ULL : std::bit_cast<std::uint64_t>(d);
    char buf[9] = {'N'};
    std::memcpy(buf + 1, &bits, 8);
    out_.append(buf, 9);
  }

  void number(const Message& m) {
    std::int32_t v;
    if (as_smi(m, v)) {
      smi(v);
    } else {
      heap_number(as_double(m));
    }
  }

  std::error_code string(std::string_view s) {
    auto p = reinterpret_cast<Bytes>(s.data());
    const std::size_t n = s.size();
    const std::size_t ascii = ascii_prefix(p, n);
    if (ascii == n) {
      if (n > max_string_length) return make_error_code(errc::unsupported_value);
      out_ += '"';
      varint(n);
      out_.append(s);
      return {};
    }
    std::size_t units = ascii;
    char32_t max_cp = 0;
    for (std::size_t i = ascii; i < n;) {
      char32_t cp;
      const int len = decode_utf8(p + i, n - i, cp);
      if (len == 0) return make_error_code(errc::unsupported_value);
      i += static_cast<std::size_t>(len);
      units += cp >= 0x10000 ? 2 : 1;
      max_cp = std::max(max_cp, cp);
    }
    if (units > max_string_length) return make_error_code(errc::unsupported_value);
    if (max_cp <= 0xFF) {
      out_ += '"';
      varint(units);
      const std::size_t at = out_.size();
      out_.resize(at + units);
      char* d = out_.data() + at;
      std::memcpy(d, p, ascii);
      d += ascii;
      for (std::size_t i = ascii; i < n;) {
        if (p[i] < 0x80) {
          *d++ = static_cast<char>(p[i++]);
        } else {
          *d++ = static_cast<char>(((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F));
          i += 2;
        }
      }
      return {};
    }
    const std::size_t bytes = units * 2;
    // V8 WriteString: pad so the UTF-16 data starts at an even offset of its buffer.
    if ((out_.size() - frame_start_ + 1 + varint_size(bytes)) & 1) out_ += '\0';
    out_ += 'c';
    varint(bytes);
    const std::size_t at = out_.size();
    out_.resize(at + bytes);
    char* d = out_.data() + at;
    auto put = [&d](char32_t u) {
      const auto v = static_cast<std::uint16_t>(u);
      std::memcpy(d, &v, 2);
      d += 2;
    };
    for (std::size_t i = 0; i < n;) {
      char32_t cp;
      i += static_cast<std::size_t>(decode_utf8(p + i, n - i, cp));
      if (cp >= 0x10000) {
        put(0xD800 + ((cp - 0x10000) >> 10));
        put(0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        put(cp);
      }
    }
    return {};
  }

  std::error_code array(const Message::array_t& a, int depth) {
    if (a.size() > std::numeric_limits<std::uint32_t>::max()) {
      return make_error_code(errc::unsupported_value);
    }
    // An array of numbers holding any non-Smi has PACKED_DOUBLE_ELEMENTS in V8, which writes
    // every element as 'N' ([1, 2.5] -> N 1.0, N 2.5).
    bool doubles = false;
    for (const auto& e : a) {
      std::int32_t v;
      if (!e.is_number()) {
        doubles = false;
        break;
      }
      if (!as_smi(e, v)) doubles = true;
    }
    out_ += 'A';
    varint(a.size());
    for (const auto& e : a) {
      if (doubles) {
        heap_number(as_double(e));
      } else if (auto ec = value(e, depth + 1)) {
        return ec;
      }
    }
    out_ += '$';
    varint(0);
    varint(a.size());
    return {};
  }

  // An array-index key, written as the number V8 keeps it as.
  void index_key(std::uint32_t index) {
    if (index <= static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) {
      smi(static_cast<std::int32_t>(index));
    } else {
      heap_number(index);
    }
  }

  std::error_code object(const Message::object_t& o, int depth) {
    out_ += 'o';
    bool any_index = false;
    std::uint32_t index;
    for (const auto& [k, v] : o) {
      if (parse_array_index(k, index)) {
        any_index = true;
        break;
      }
    }
    auto pair = [&](const std::string& k, const Message& v, std::uint32_t i, bool is_index) {
      if (!is_index) {
        if (auto ec = string(k)) return ec;
      } else {
        index_key(i);
      }
      return value(v, depth + 1);
    };
    if (!any_index) {
      for (const auto& [k, v] : o) {
        if (auto ec = pair(k, v, 0, false)) return ec;
      }
    } else {
      // A JS object lists integer keys first, in ascending order, then the rest as inserted.
      std::vector<std::pair<std::uint32_t, const Message::object_t::value_type*>> indices;
      for (const auto& kv : o) {
        if (parse_array_index(kv.first, index)) indices.emplace_back(index, &kv);
      }
      std::sort(indices.begin(), indices.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [i, kv] : indices) {
        if (auto ec = pair(kv->first, kv->second, i, true)) return ec;
      }
      for (const auto& [k, v] : o) {
        if (parse_array_index(k, index)) continue;
        if (auto ec = pair(k, v, 0, false)) return ec;
      }
    }
    out_ += '{';
    varint(o.size());
    return {};
  }

  // Node's ChildProcessSerializer: host object, "is an ArrayBufferView", Buffer, length, bytes.
  std::error_code buffer(const Message::binary_t& b) {
    if (b.size() > std::numeric_limits<std::uint32_t>::max()) {
      return make_error_code(errc::unsupported_value);
    }
    out_ += '\\';
    varint(0);
    varint(node_buffer_index);
    varint(b.size());
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
    return {};
  }

  std::string& out_;
  std::size_t frame_start_;
};

// ---------------------------------------------------------------------------------------------
// Decoding.

// Where an object-like value was read, so that a later '^' can decode it again.
struct ObjectRef {
  std::uint32_t start = 0;     // payload offset of the read that produced it
  std::uint32_t end = 0;       // offset just past it, once complete
  std::uint32_t first_id = 0;  // the next id at start, so a replay assigns the same ids
  bool complete = false;
  bool array_buffer = false;   // a 'B'/'~' that a 'V' may follow
};

enum class ViewKind { i8, u8, i16, u16, i32, u32, f32, f64, i64, u64 };

class Decoder {
 public:
  Decoder(std::string_view payload, std::vector<ObjectRef>& refs, DecodeError& err)
      : p_(reinterpret_cast<Bytes>(payload.data())),
        size_(payload.size()),
        refs_(refs),
        err_(err),
        budget_(16 * static_cast<std::uint64_t>(payload.size()) + 65536) {
    refs_.clear();
  }

  bool decode(Message& out) {
    if (size_ > 0 && p_[0] == 0xFF) {
      ++pos_;
      if (!read_varint(version_, "the version")) return false;
      if (version_ > latest_version) {
        return fail("unsupported V8 serialization version " + std::to_string(version_) +
                    " (newest known is 15)");
      }
    }
    if (read_value(out, true) == Got::fail) return false;
    if (pos_ != size_) {
      return fail(std::to_string(size_ - pos_) + " stray bytes after the value at offset " +
                  std::to_string(pos_));
    }
    return true;
  }

 private:
  enum class Got { fail, value, undefined };

  bool fail(std::string detail, errc code = errc::bad_message) {
    err_ = {make_error_code(code), std::move(detail)};
    return false;
  }
  Got bad(std::string detail, errc code = errc::bad_message) {
    fail(std::move(detail), code);
    return Got::fail;
  }
  std::string at(std::size_t offset) const { return " at offset " + std::to_string(offset); }

  bool truncated(const char* what) {
    return fail(std::string("frame ends inside ") + what + at(pos_));
  }

  bool charge(std::uint64_t units) {
    cost_ += units;
    if (cost_ > budget_) {
      return fail("the value decodes to more than " + std::to_string(budget_) +
                  " units, too much for a frame of " + std::to_string(size_) +
                  " bytes (a lying length, or back-references copied too often)" + at(pos_));
    }
    return true;
  }

  bool read_tag(unsigned& t) {
    while (pos_ < size_ && p_[pos_] == 0) ++pos_;  // padding
    if (pos_ >= size_) return truncated("a value");
    t = p_[pos_++];
    return true;
  }

  // The next tag after any padding, not consumed.
  bool peek_tag(unsigned& t) {
    while (pos_ < size_ && p_[pos_] == 0) ++pos_;
    if (pos_ >= size_) return truncated("an object, array, map or set");
    t = p_[pos_];
    return true;
  }

  bool read_varint(std::uint32_t& v, const char* what) {
    std::uint32_t result = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (pos_ >= size_) return truncated(what);
      const unsigned b = p_[pos_++];
      result |= static_cast<std::uint32_t>(b & 0x7F) << shift;  // bits past 32 dropped, as V8
      if (!(b & 0x80)) {
        v = result;
        return true;
      }
    }
    return fail(std::string("over-long varint for ") + what + at(pos_));
  }

  bool read_double(double& d) {
    if (size_ - pos_ < 8) return truncated("a double");
    std::memcpy(&d, p_ + pos_, 8);
    pos_ += 8;
    return true;
  }

  bool read_bytes(std::size_t n, Bytes& data, const char* what) {
    if (n > size_ - pos_) {
      return fail(std::string(what) + " declares " + std::to_string(n) + " bytes but " +
                  std::to_string(size_ - pos_) + " remain" + at(pos_));
    }
    data = p_ + pos_;
    pos_ += n;
    return true;
  }

  std::uint32_t new_id(std::size_t start, std::uint32_t first_id, bool array_buffer = false) {
    if (replaying_ == 0) {
      ObjectRef r;
      r.start = static_cast<std::uint32_t>(start);
      r.first_id = first_id;
      r.array_buffer = array_buffer;
      refs_.push_back(r);
    }
    return next_id_++;
  }

  void complete(std::uint32_t id) {
    if (replaying_ == 0) {
      refs_[id].end = static_cast<std::uint32_t>(pos_);
      refs_[id].complete = true;
    }
  }

  // The body of a '"', 'c' or 'S' string.
  bool read_string_body(unsigned tag, std::string& s) {
    std::uint32_t n;
    Bytes data;
    if (!read_varint(n, "a string length") || !read_bytes(n, data, "a string") || !charge(n)) {
      return false;
    }
    if (tag == '"') {
      latin1_to_utf8(data, n, s);
    } else if (tag == 'c') {
      if (n % 2) return fail("two-byte string of odd byte length " + std::to_string(n) + at(pos_));
      utf16_to_utf8(data, n / 2, s);
    } else {
      sanitize_utf8(data, n, s);
    }
    return true;
  }

  // V8 ReadString: a string value (version >= 12) or raw UTF-8 (older).
  bool read_string(std::string& s) {
    if (version_ < 12) return read_string_body('S', s);
    unsigned t = 0;
    if (!read_tag(t)) return false;
    if (t != '"' && t != 'c' && t != 'S') {
      return fail("expected a string, found tag " + tag_text(t) + at(pos_ - 1));
    }
    return read_string_body(t, s);
  }

  // A property key: a string, or a number V8 wrote for an integer key.
  bool read_key(std::string& key) {
    unsigned t = 0;
    if (!read_tag(t)) return false;
    switch (t) {
      case '"':
      case 'c':
      case 'S': return read_string_body(t, key);
      case 'I': {
        std::uint32_t z;
        if (!read_varint(z, "an int32 key")) return false;
        key = std::to_string(static_cast<std::int32_t>((z >> 1) ^ (0u - (z & 1))));
        return true;
      }
      case 'U': {
        std::uint32_t u;
        if (!read_varint(u, "a uint32 key")) return false;
        key = std::to_string(u);
        return true;
      }
      case 'N': {
        double d;
        if (!read_double(d)) return false;
        key = js_number_string(d);
        return true;
      }
      default: return fail("invalid property key (tag " + tag_text(t) + ")" + at(pos_ - 1));
    }
  }

  Got read_value(Message& out, bool allow_view) {
    if (depth_ >= max_depth) {
      return bad("values nested deeper than " + std::to_string(max_depth) + at(pos_));
    }
    struct Depth {
      int& d;
      explicit Depth(int& x) : d(++x) {}
      ~Depth() { --d; }
    } depth_guard(depth_);
    if (!charge(1)) return Got::fail;

    while (pos_ < size_ && p_[pos_] == 0) ++pos_;
    const std::size_t start = pos_;
    const std::uint32_t first_id = next_id_;
    unsigned t = 0;
    if (!read_tag(t)) return Got::fail;
    switch (t) {
      case '_': out = nullptr; return Got::undefined;
      case '0': out = nullptr; return Got::value;
      case 'T': out = true; return Got::value;
      case 'F': out = false; return Got::value;
      case 'I': {
        std::uint32_t z;
        if (!read_varint(z, "an int32")) return Got::fail;
        out = static_cast<std::int64_t>(static_cast<std::int32_t>((z >> 1) ^ (0u - (z & 1))));
        return Got::value;
      }
      case 'U': {
        std::uint32_t u;
        if (!read_varint(u, "a uint32")) return Got::fail;
        out = static_cast<std::int64_t>(u);
        return Got::value;
      }
      case 'N': {
        double d;
        if (!read_double(d)) return Got::fail;
        out = number_message(d);
        return Got::value;
      }
      case 'Z': return read_bigint(out) ? Got::value : Got::fail;
      case '"':
      case 'c':
      case 'S': {
        std::string s;
        if (!read_string_body(t, s)) return Got::fail;
        out = std::move(s);
        return Got::value;
      }
      case 'o': return read_object(out, start, first_id);
      case 'A': return read_dense_array(out, start, first_id);
      case 'a': return read_sparse_array(out, start, first_id);
      case 'D': {
        double ms;
        if (!read_double(ms)) return Got::fail;
        const auto id = new_id(start, first_id);
        if (auto iso = iso_date(ms)) {
          out = std::move(*iso);
        } else {
          out = nullptr;
        }
        complete(id);
        return Got::value;
      }
      case 'y':
      case 'x':
      case 'n':
      case 'z':
      case 's': return read_boxed(t, out, start, first_id);
      case 'R': {
        const auto id = new_id(start, first_id);
        std::string pattern;
        std::uint32_t flags;
        if (!read_string(pattern) || !read_varint(flags, "RegExp flags")) return Got::fail;
        // V8 11.3 knows 9 flag bits; bit 6 (linear) needs --enable-experimental-regexp-engine.
        if (flags & ~0x1BFu) return bad("invalid RegExp flags " + std::to_string(flags) + at(pos_));
        out = Message::object();  // as JSON.stringify(/re/) == "{}"
        complete(id);
        return Got::value;
      }
      case ';': return read_map(out, start, first_id);
      case '\'': return read_set(out, start, first_id);
      case 'B':
      case '~': {
        const auto id = new_id(start, first_id, true);
        std::uint32_t n, max_n;
        if (!read_varint(n, "an ArrayBuffer length")) return Got::fail;
        if (t == '~') {
          if (!read_varint(max_n, "an ArrayBuffer maximum length")) return Got::fail;
          if (n > max_n) return bad("resizable ArrayBuffer longer than its maximum" + at(pos_));
        }
        Bytes data;
        if (!read_bytes(n, data, "an ArrayBuffer") || !charge(n)) return Got::fail;
        out = Message::binary(Message::binary_t::container_type(data, data + n));
        complete(id);
        return maybe_view(out, start, first_id, allow_view);
      }
      case 'r': return read_error(out, start, first_id);
      case '\\': return read_host_object(out, start, first_id);
      case '^': {
        std::uint32_t id;
        if (!read_varint(id, "an object reference")) return Got::fail;
        if (id >= refs_.size()) {
          return bad("reference to object " + std::to_string(id) + ", which does not exist" +
                     at(start));
        }
        const ObjectRef r = refs_[id];
        if (!r.complete) {
          return bad("circular reference to object " + std::to_string(id) + at(start) +
                         " cannot be represented in JSON",
                     errc::unsupported_value);
        }
        // A shared object is copied; its bytes count again so copies cannot grow unbounded.
        if (!charge(r.end - r.start)) return Got::fail;
        const std::size_t saved_pos = pos_;
        const std::uint32_t saved_id = next_id_;
        pos_ = r.start;
        next_id_ = r.first_id;
        ++replaying_;
        const Got g = read_value(out, !r.array_buffer);
        --replaying_;
        pos_ = saved_pos;
        next_id_ = saved_id;
        if (g == Got::fail) return g;
        return r.array_buffer ? maybe_view(out, start, first_id, allow_view) : g;
      }
      case '?': {
        std::uint32_t ignored;
        if (!read_varint(ignored, "an object count")) return Got::fail;
        return read_value(out, allow_view);
      }
      case 'V': return bad("ArrayBufferView without an ArrayBuffer before it" + at(start));
      case 't': return bad("transferred ArrayBuffer (tag 't') cannot arrive over IPC" + at(start));
      case 'u': return bad("SharedArrayBuffer (tag 'u') cannot arrive over IPC" + at(start));
      case 'p': return bad("shared object (tag 'p') cannot arrive over IPC" + at(start));
      case 'w':
      case 'm': return bad("WebAssembly object (tag " + tag_text(t) + ") cannot arrive over IPC" +
                           at(start));
      default: return bad("unknown V8 tag " + tag_text(t) + at(start));
    }
  }

  bool read_bigint(Message& out) {
    std::uint32_t bitfield;
    Bytes digits;
    if (!read_varint(bitfield, "a BigInt")) return false;
    const std::size_t n = (bitfield >> 1) & 0x3FFFFFFF;
    if (!read_bytes(n, digits, "a BigInt") || !charge(n)) return false;
    std::uint64_t magnitude = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (i < 8) {
        magnitude |= static_cast<std::uint64_t>(digits[i]) << (8 * i);
      } else if (digits[i] != 0) {
        return fail("BigInt wider than 64 bits" + at(pos_), errc::unsupported_value);
      }
    }
    if (!(bitfield & 1)) {
      if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        out = static_cast<std::int64_t>(magnitude);
      } else {
        out = magnitude;
      }
    } else if (magnitude <= (std::uint64_t{1} << 63)) {
      out = static_cast<std::int64_t>(0 - magnitude);
    } else {
      return fail("BigInt below -2^63" + at(pos_), errc::unsupported_value);
    }
    return true;
  }

  // Checks that the object just read lists each key once (V8 refuses a repeated key).
  bool unique_keys(const Message::object_t::Container& v) {
    if (v.size() < 2) return true;
    bool dup = false;
    if (v.size() <= 16) {
      for (std::size_t i = 0; i < v.size() && !dup; ++i) {
        for (std::size_t j = i + 1; j < v.size(); ++j) {
          if (v[i].first == v[j].first) {
            dup = true;
            break;
          }
        }
      }
    } else {
      std::vector<std::string_view> keys;
      keys.reserve(v.size());
      for (const auto& kv : v) keys.emplace_back(kv.first);
      std::sort(keys.begin(), keys.end());
      dup = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    }
    return dup ? fail("object repeats a property key" + at(pos_)) : true;
  }

  bool read_end(std::uint32_t count, const char* what, std::uint32_t length = 0,
                bool has_length = false) {
    std::uint32_t declared;
    if (!read_varint(declared, what)) return false;
    if (declared != count) {
      return fail(std::string(what) + " says " + std::to_string(declared) + " but " +
                  std::to_string(count) + " were read" + at(pos_));
    }
    if (has_length) {
      std::uint32_t declared_length;
      if (!read_varint(declared_length, "an array length")) return false;
      if (declared_length != length) {
        return fail("array end says length " + std::to_string(declared_length) + " but it began " +
                    std::to_string(length) + at(pos_));
      }
    }
    return true;
  }

  Got read_object(Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    out = Message::object();
    auto& props = static_cast<Message::object_t::Container&>(out.get_ref<Message::object_t&>());
    std::uint32_t count = 0;
    for (;;) {
      unsigned t = 0;
      if (!peek_tag(t)) return Got::fail;
      if (t == '{') {
        ++pos_;
        break;
      }
      std::string key;
      if (!read_key(key)) return Got::fail;
      props.emplace_back(std::move(key), nullptr);
      const Got g = read_value(props.back().second, true);
      if (g == Got::fail) return g;
      if (g == Got::undefined) props.pop_back();  // as JSON.stringify drops it
      ++count;
    }
    if (!read_end(count, "the object's property count") || !unique_keys(props)) return Got::fail;
    complete(id);
    return Got::value;
  }

  // Properties after an array's elements: index keys fill elements, other keys are dropped
  // (JSON.stringify ignores an array's named properties).
  bool read_array_properties(Message::array_t& arr, unsigned end_tag, std::uint32_t& count) {
    count = 0;
    for (;;) {
      unsigned t = 0;
      if (!peek_tag(t)) return false;
      if (t == end_tag) {
        ++pos_;
        return true;
      }
      std::string key;
      Message v;
      if (!read_key(key)) return false;
      const Got g = read_value(v, true);
      if (g == Got::fail) return false;
      std::uint32_t index;
      if (parse_array_index(key, index)) {
        if (index >= arr.size()) {
          return fail("array element " + key + " beyond the declared length " +
                      std::to_string(arr.size()) + at(pos_));
        }
        arr[index] = std::move(v);  // undefined left v null
      }
      ++count;
    }
  }

  Got read_dense_array(Message& out, std::size_t start, std::uint32_t first_id) {
    std::uint32_t length;
    if (!read_varint(length, "an array length")) return Got::fail;
    // Each element takes at least a byte, so a longer length is a lie (V8 checks the same).
    if (length > size_ - pos_) {
      return bad("dense array of length " + std::to_string(length) + " with only " +
                 std::to_string(size_ - pos_) + " bytes left" + at(pos_));
    }
    const auto id = new_id(start, first_id);
    out = Message::array();
    auto& arr = out.get_ref<Message::array_t&>();
    arr.reserve(length);
    for (std::uint32_t i = 0; i < length; ++i) {
      unsigned t = 0;
      if (!peek_tag(t)) return Got::fail;
      arr.emplace_back();
      if (t == '-') {  // the hole
        ++pos_;
        continue;
      }
      if (read_value(arr.back(), true) == Got::fail) return Got::fail;
    }
    std::uint32_t count;
    if (!read_array_properties(arr, '$', count) ||
        !read_end(count, "the array's property count", length, true)) {
      return Got::fail;
    }
    complete(id);
    return Got::value;
  }

  Got read_sparse_array(Message& out, std::size_t start, std::uint32_t first_id) {
    std::uint32_t length;
    if (!read_varint(length, "an array length") || !charge(length)) return Got::fail;
    const auto id = new_id(start, first_id);
    out = Message::array();
    auto& arr = out.get_ref<Message::array_t&>();
    arr.resize(length);  // holes read as null, as JSON.stringify writes them
    std::uint32_t count;
    if (!read_array_properties(arr, '@', count) ||
        !read_end(count, "the array's property count", length, true)) {
      return Got::fail;
    }
    complete(id);
    return Got::value;
  }

  Got read_boxed(unsigned t, Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    switch (t) {
      case 'y': out = true; break;
      case 'x': out = false; break;
      case 'n': {
        double d;
        if (!read_double(d)) return Got::fail;
        out = number_message(d);
        break;
      }
      case 'z':
        if (!read_bigint(out)) return Got::fail;
        break;
      default: {
        std::string s;
        if (!read_string(s)) return Got::fail;
        out = std::move(s);
      }
    }
    complete(id);
    return Got::value;
  }

  Got read_map(Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    out = Message::array();
    auto& entries = out.get_ref<Message::array_t&>();
    std::uint32_t count = 0;
    for (;;) {
      unsigned t = 0;
      if (!peek_tag(t)) return Got::fail;
      if (t == ':') {
        ++pos_;
        break;
      }
      Message pair = Message::array({nullptr, nullptr});
      auto& kv = pair.get_ref<Message::array_t&>();
      if (read_value(kv[0], true) == Got::fail || read_value(kv[1], true) == Got::fail) {
        return Got::fail;
      }
      entries.push_back(std::move(pair));
      count += 2;
    }
    if (!read_end(count, "the Map's entry count")) return Got::fail;
    complete(id);
    return Got::value;
  }

  Got read_set(Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    out = Message::array();
    auto& items = out.get_ref<Message::array_t&>();
    std::uint32_t count = 0;
    for (;;) {
      unsigned t = 0;
      if (!peek_tag(t)) return Got::fail;
      if (t == ',') {
        ++pos_;
        break;
      }
      items.emplace_back();
      if (read_value(items.back(), true) == Got::fail) return Got::fail;
      ++count;
    }
    if (!read_end(count, "the Set's size")) return Got::fail;
    complete(id);
    return Got::value;
  }

  Got read_error(Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    const char* name = "Error";
    std::optional<std::string> message, stack;
    Message cause;
    bool has_cause = false;
    for (bool done = false; !done;) {
      std::uint32_t t = 0;
      if (!read_varint(t, "an Error field")) return Got::fail;
      switch (t) {
        case 'E': name = "EvalError"; break;
        case 'R': name = "RangeError"; break;
        case 'F': name = "ReferenceError"; break;
        case 'S': name = "SyntaxError"; break;
        case 'T': name = "TypeError"; break;
        case 'U': name = "URIError"; break;
        case 'm':
          if (!read_string(message.emplace())) return Got::fail;
          break;
        case 's':
          if (!read_string(stack.emplace())) return Got::fail;
          break;
        case 'c': {
          const Got g = read_value(cause, true);
          if (g == Got::fail) return g;
          has_cause = g == Got::value;
          break;
        }
        case '.': done = true; break;
        default: return bad("unknown Error field " + tag_text(t) + at(pos_ - 1));
      }
    }
    out = Message::object();
    out["name"] = name;
    if (message) out["message"] = std::move(*message);
    if (stack) out["stack"] = std::move(*stack);
    if (has_cause) out["cause"] = std::move(cause);
    complete(id);
    return Got::value;
  }

  // The bytes of a typed array, DataView or Buffer: byte-wide views as binary, the others as
  // an array of their numbers.
  bool view_message(int kind, Bytes data, std::size_t n, Message& out) {
    static constexpr std::size_t width[] = {1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    if (kind < 0) {
      out = Message::binary(Message::binary_t::container_type(data, data + n));
      return true;
    }
    const std::size_t w = width[kind];
    if (n % w) {
      return fail("typed array of " + std::to_string(n) + " bytes, not a multiple of " +
                  std::to_string(w) + at(pos_));
    }
    if (!charge(n / w)) return false;
    out = Message::array();
    auto& arr = out.get_ref<Message::array_t&>();
    arr.reserve(n / w);
    for (std::size_t i = 0; i < n; i += w) {
      auto get = [&](auto v) {
        std::memcpy(&v, data + i, sizeof v);
        return v;
      };
      switch (static_cast<ViewKind>(kind)) {
        case ViewKind::i8: arr.emplace_back(get(std::int8_t{})); break;
        case ViewKind::u8: arr.emplace_back(get(std::uint8_t{})); break;
        case ViewKind::i16: arr.emplace_back(get(std::int16_t{})); break;
        case ViewKind::u16: arr.emplace_back(get(std::uint16_t{})); break;
        case ViewKind::i32: arr.emplace_back(get(std::int32_t{})); break;
        case ViewKind::u32: arr.emplace_back(get(std::uint32_t{})); break;
        case ViewKind::f32: arr.push_back(number_message(get(float{}))); break;
        case ViewKind::f64: arr.push_back(number_message(get(double{}))); break;
        case ViewKind::i64: arr.emplace_back(get(std::int64_t{})); break;
        case ViewKind::u64: arr.emplace_back(get(std::uint64_t{})); break;
      }
    }
    return true;
  }

  // After an ArrayBuffer (in out), a 'V' turns it into a view of part of it.
  Got maybe_view(Message& out, std::size_t start, std::uint32_t first_id, bool allow_view) {
    unsigned t = 0;
    if (!allow_view || pos_ >= size_ || !peek_tag(t) || t != 'V') return Got::value;
    ++pos_;
    std::uint32_t sub, offset, length, flags = 0;
    if (!read_varint(sub, "a view type") || !read_varint(offset, "a view offset") ||
        !read_varint(length, "a view length")) {
      return Got::fail;
    }
    const auto& buf = out.get_binary();
    if (offset > buf.size() || length > buf.size() - offset) {
      return bad("view of bytes " + std::to_string(offset) + "+" + std::to_string(length) +
                 " outside an ArrayBuffer of " + std::to_string(buf.size()) + at(pos_));
    }
    if (version_ >= 14 && !read_varint(flags, "view flags")) return Got::fail;
    const auto id = new_id(start, first_id);
    int kind;
    switch (sub) {
      case 'b': kind = static_cast<int>(ViewKind::i8); break;
      case 'B':
      case 'C':
      case '?': kind = -1; break;
      case 'w': kind = static_cast<int>(ViewKind::i16); break;
      case 'W': kind = static_cast<int>(ViewKind::u16); break;
      case 'd': kind = static_cast<int>(ViewKind::i32); break;
      case 'D': kind = static_cast<int>(ViewKind::u32); break;
      case 'f': kind = static_cast<int>(ViewKind::f32); break;
      case 'F': kind = static_cast<int>(ViewKind::f64); break;
      case 'q': kind = static_cast<int>(ViewKind::i64); break;
      case 'Q': kind = static_cast<int>(ViewKind::u64); break;
      default: return bad("unknown ArrayBufferView type " + tag_text(sub) + at(pos_));
    }
    if (kind >= 0) {
      static constexpr std::size_t width[] = {1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
      if (offset % width[kind]) return bad("misaligned typed array offset" + at(pos_));
    }
    Message view;
    if (!view_message(kind, buf.data() + offset, length, view)) return Got::fail;
    out = std::move(view);
    complete(id);
    return Got::value;
  }

  // Node's ChildProcessDeserializer._readHostObject.
  Got read_host_object(Message& out, std::size_t start, std::uint32_t first_id) {
    const auto id = new_id(start, first_id);
    std::uint32_t which;
    if (!read_varint(which, "a host object")) return Got::fail;
    if (which == 1) {
      // Any other host object was sent as a plain-object copy.
      const Got g = read_value(out, true);
      if (g == Got::fail) return g;
      complete(id);
      return g;
    }
    if (which != 0) return bad("unknown host object kind " + std::to_string(which) + at(pos_));
    std::uint32_t type, n;
    Bytes data;
    if (!read_varint(type, "a host object type") || !read_varint(n, "a host object length") ||
        !read_bytes(n, data, "a Buffer") || !charge(n)) {
      return Got::fail;
    }
    // lib/v8.js arrayBufferViewTypes: Int8, Uint8, Uint8Clamped, Int16, Uint16, Int32, Uint32,
    // Float32, Float64, DataView, Buffer, BigInt64, BigUint64.
    static constexpr int kinds[] = {
        static_cast<int>(ViewKind::i8),  -1, -1, static_cast<int>(ViewKind::i16),
        static_cast<int>(ViewKind::u16), static_cast<int>(ViewKind::i32),
        static_cast<int>(ViewKind::u32), static_cast<int>(ViewKind::f32),
        static_cast<int>(ViewKind::f64), -1, -1, static_cast<int>(ViewKind::i64),
        static_cast<int>(ViewKind::u64)};
    if (type >= std::size(kinds)) {
      return bad("unknown ArrayBufferView type index " + std::to_string(type) + at(pos_));
    }
    if (!view_message(kinds[type], data, n, out)) return Got::fail;
    complete(id);
    return Got::value;
  }

  Bytes p_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::uint32_t version_ = 0;  // a payload without FF is version 0, as V8 reads it
  std::uint32_t next_id_ = 0;
  int depth_ = 0;
  int replaying_ = 0;
  std::vector<ObjectRef>& refs_;
  DecodeError& err_;
  std::uint64_t cost_ = 0;
  std::uint64_t budget_;
};

// ---------------------------------------------------------------------------------------------

class V8Codec final : public Codec {
 public:
  explicit V8Codec(std::size_t max_frame) : max_frame_(max_frame) {}

  std::error_code encode(const Message& msg, std::string& out) override {
    const std::size_t start = out.size();
    out.append("\0\0\0\0\xFF\x0F", 6);
    Encoder encoder(out, start);
    if (auto ec = encoder.value(msg, 0)) {
      out.resize(start);
      return ec;
    }
    const std::size_t len = out.size() - start - 4;
    if (len > std::numeric_limits<std::uint32_t>::max()) {
      out.resize(start);
      return make_error_code(errc::unsupported_value);
    }
    out[start] = static_cast<char>(len >> 24);
    out[start + 1] = static_cast<char>(len >> 16);
    out[start + 2] = static_cast<char>(len >> 8);
    out[start + 3] = static_cast<char>(len);
    return {};
  }

  bool feed(std::string_view bytes, const FrameSink& sink, DecodeError& err) override {
    if (failed_) {
      err = failure_;
      return false;
    }
    while (!bytes.empty()) {
      if (prefix_have_ == 0 && bytes.size() >= 4) {
        // Fast path: decode whole frames straight from the caller's bytes.
        const std::uint32_t len = be32(reinterpret_cast<Bytes>(bytes.data()));
        if (!check_length(len, err)) return false;
        if (bytes.size() - 4 >= len) {
          Message m;
          if (!decode(bytes.substr(4, len), m, err)) return false;
          bytes.remove_prefix(4 + static_cast<std::size_t>(len));
          sink(std::move(m));
          continue;
        }
      }
      if (prefix_have_ < 4) {
        const std::size_t take = std::min<std::size_t>(4 - prefix_have_, bytes.size());
        std::memcpy(prefix_ + prefix_have_, bytes.data(), take);
        prefix_have_ += take;
        bytes.remove_prefix(take);
        if (prefix_have_ < 4) return true;
        frame_len_ = be32(prefix_);
        if (!check_length(frame_len_, err)) return false;
        pending_.clear();
      }
      const std::size_t take = std::min<std::size_t>(frame_len_ - pending_.size(), bytes.size());
      pending_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (pending_.size() < frame_len_) return true;
      Message m;
      if (!decode(pending_, m, err)) return false;
      prefix_have_ = 0;
      if (pending_.capacity() > (std::size_t{1} << 20)) {
        std::string().swap(pending_);
      } else {
        pending_.clear();
      }
      sink(std::move(m));
    }
    return true;
  }

  bool buffering() const override { return prefix_have_ > 0; }

 private:
  static std::uint32_t be32(Bytes p) {
    return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
           (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
  }

  bool check_length(std::uint32_t len, DecodeError& err) {
    if (len <= max_frame_) return true;
    return stop({make_error_code(errc::frame_too_large),
                 "an advanced frame of " + std::to_string(len) + " bytes exceeds " +
                     std::to_string(max_frame_)},
                err);
  }

  bool decode(std::string_view payload, Message& m, DecodeError& err) {
    DecodeError e;
    Decoder decoder(payload, refs_, e);
    const bool ok = decoder.decode(m);
    if (refs_.capacity() > 4096) std::vector<ObjectRef>().swap(refs_);
    return ok || stop(std::move(e), err);
  }

  bool stop(DecodeError e, DecodeError& err) {
    failed_ = true;
    failure_ = e;
    err = std::move(e);
    return false;
  }

  std::size_t max_frame_;
  unsigned char prefix_[4] = {};
  std::size_t prefix_have_ = 0;
  std::uint32_t frame_len_ = 0;
  std::string pending_;
  std::vector<ObjectRef> refs_;  // reused by each frame's decoder
  bool failed_ = false;
  DecodeError failure_;
};

}  // namespace

std::unique_ptr<Codec> make_v8_codec(std::size_t max_frame) {
  return std::make_unique<V8Codec>(max_frame);
}

}  // namespace cluster::ipc
