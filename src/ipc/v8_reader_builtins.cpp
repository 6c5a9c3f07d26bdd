// The 'advanced' decoder's JS built-ins, read into the approximations docs/serialization.md
// lists: BigInt, boxed primitives, Map, Set, Error, typed arrays, DataViews and Node's host
// objects (Buffer and other ArrayBufferViews). See v8_reader.hpp.
#include "ipc/v8_reader.hpp"

#include "ipc/v8_text.hpp"

#include <iterator>
#include <limits>
#include <optional>

namespace cluster::ipc::v8 {
namespace {

enum class ViewKind { i8, u8, i16, u16, i32, u32, f32, f64, i64, u64 };

}  // namespace

bool Decoder::read_bigint(Message& out) {
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

Decoder::Got Decoder::read_boxed(unsigned t, Message& out, std::size_t start, std::uint32_t first_id) {
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

Decoder::Got Decoder::read_map(Message& out, std::size_t start, std::uint32_t first_id) {
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

Decoder::Got Decoder::read_set(Message& out, std::size_t start, std::uint32_t first_id) {
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

Decoder::Got Decoder::read_error(Message& out, std::size_t start, std::uint32_t first_id) {
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

bool Decoder::view_message(int kind, Bytes data, std::size_t n, Message& out) {
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

Decoder::Got Decoder::maybe_view(Message& out, std::size_t start, std::uint32_t first_id, bool allow_view) {
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

Decoder::Got Decoder::read_host_object(Message& out, std::size_t start, std::uint32_t first_id) {
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

}  // namespace cluster::ipc::v8
