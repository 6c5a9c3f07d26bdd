// The 'advanced' encoder (see the protocol block atop v8_codec.cpp and docs/serialization.md):
// byte-identical to what node 20 writes for the same JS value, except where V8's hidden classes
// would pick 'N' for a value we write as 'I'.
#include "ipc/v8_writer.hpp"

#include "cluster/error.hpp"
#include "ipc/v8_format.hpp"
#include "ipc/v8_text.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace cluster::ipc::v8 {
namespace {

// The bytes varint(v) takes.
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

// The JS number m holds.
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

}  // namespace

std::error_code write_value(const Message& m, std::string& out, std::size_t frame_start) {
  Encoder encoder(out, frame_start);
  return encoder.value(m, 0);
}

}  // namespace cluster::ipc::v8
