// The 'advanced' decoder's JSON-shaped values: the value dispatch, primitives, strings,
// property keys, objects, arrays and back-references (see v8_reader.hpp).
#include "ipc/v8_reader.hpp"

#include "ipc/v8_text.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace cluster::ipc::v8 {

std::string tag_text(unsigned t) {
  char buf[24];
  if (t >= 0x20 && t < 0x7F) {
    std::snprintf(buf, sizeof buf, "0x%02x '%c'", t, static_cast<char>(t));
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", t);
  }
  return buf;
}

bool Decoder::decode(Message& out) {
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

bool Decoder::read_string_body(unsigned tag, std::string& s) {
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

bool Decoder::read_string(std::string& s) {
  if (version_ < 12) return read_string_body('S', s);
  unsigned t = 0;
  if (!read_tag(t)) return false;
  if (t != '"' && t != 'c' && t != 'S') {
    return fail("expected a string, found tag " + tag_text(t) + at(pos_ - 1));
  }
  return read_string_body(t, s);
}

bool Decoder::read_key(std::string& key) {
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

Decoder::Got Decoder::read_value(Message& out, bool allow_view) {
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

bool Decoder::unique_keys(const Message::object_t::Container& v) {
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

bool Decoder::read_end(std::uint32_t count, const char* what, std::uint32_t length,
              bool has_length) {
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

Decoder::Got Decoder::read_object(Message& out, std::size_t start, std::uint32_t first_id) {
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

bool Decoder::read_array_properties(Message::array_t& arr, unsigned end_tag, std::uint32_t& count) {
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

Decoder::Got Decoder::read_dense_array(Message& out, std::size_t start, std::uint32_t first_id) {
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

Decoder::Got Decoder::read_sparse_array(Message& out, std::size_t start, std::uint32_t first_id) {
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

}  // namespace cluster::ipc::v8
