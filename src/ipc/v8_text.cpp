// Text conversions of the 'advanced' codec (see v8_text.hpp).
#include "ipc/v8_text.hpp"
#include "ipc/js_number.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cluster::ipc::v8 {
namespace {

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

// Appends cp as UTF-8.
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

}  // namespace

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

std::string js_number_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  std::string out;
  append_js_number(d, out);
  return out;
}

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

}  // namespace cluster::ipc::v8
