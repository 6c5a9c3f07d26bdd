// The 'json' framing (lib/internal/child_process/serialization.js, json):
//   writer: JSON.stringify(message) + "\n", UTF-8; a raw 0x0A never occurs inside a frame because
//           JSON.stringify escapes control characters.
//   reader: split on "\n", JSON.parse each complete line; the tail waits for more bytes. Node
//           crashes on an empty or invalid line; here it is a DecodeError for that channel only.
#include "ipc/json_codec.hpp"
#include "ipc/json_fast_parse.hpp"
#include "ipc/js_number.hpp"

#include "ipc/v8_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace cluster::ipc {
namespace {

// JSON.stringify of a number: non-finite values are null.
void write_js_number(double v, std::string& out) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  append_js_number(v, out);
}

void write_string(const std::string& s, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      default:
        if (c >= 0x20) continue;
    }
    out.append(s, run, i - run);
    run = i + 1;
    if (esc) {
      out += esc;
    } else {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      out.append(u, 6);
    }
  }
  out.append(s, run, std::string::npos);
  out += '"';
}

// Decimal digits of an integer, without a temporary string.
template <typename Int>
void write_integer(Int v, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void write_value(const Message& m, std::string& out) {
  switch (m.type()) {
    case Message::value_t::null:
    case Message::value_t::discarded: out += "null"; break;
    case Message::value_t::boolean: out += m.get<bool>() ? "true" : "false"; break;
    case Message::value_t::number_integer: write_integer(m.get<std::int64_t>(), out); break;
    case Message::value_t::number_unsigned: write_integer(m.get<std::uint64_t>(), out); break;
    case Message::value_t::number_float: write_js_number(m.get<double>(), out); break;
    case Message::value_t::string: write_string(m.get_ref<const std::string&>(), out); break;
    case Message::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : m) {
        if (!first) out += ',';
        first = false;
        write_value(e, out);
      }
      out += ']';
      break;
    }
    case Message::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : m.items()) {
        if (!first) out += ',';
        first = false;
        write_string(k, out);
        out += ':';
        write_value(v, out);
      }
      out += '}';
      break;
    }
    case Message::value_t::binary: {
      // Buffer.prototype.toJSON, which JSON.stringify calls.
      out += "{\"type\":\"Buffer\",\"data\":[";
      bool first = true;
      for (auto b : m.get_binary()) {
        if (!first) out += ',';
        first = false;
        out += std::to_string(static_cast<unsigned>(b));
      }
      out += "]}";
      break;
    }
  }
}

class JsonCodec final : public Codec {
 public:
  explicit JsonCodec(std::size_t max_frame) : max_frame_(max_frame) {}

  std::error_code encode(const Message& msg, std::string& out) override {
    write_value(msg, out);
    out += '\n';
    return {};
  }

  bool feed(std::string_view bytes, const FrameSink& sink, DecodeError& err) override {
    while (!bytes.empty()) {
      auto nl = bytes.find('\n');
      if (nl == std::string_view::npos) {
        if (pending_.size() + bytes.size() > max_frame_) {
          err = {make_error_code(errc::frame_too_large),
                 "a JSON frame exceeds " + std::to_string(max_frame_) + " bytes without a newline"};
          return false;
        }
        pending_.append(bytes);
        return true;
      }
      std::string_view line = bytes.substr(0, nl);
      bytes.remove_prefix(nl + 1);
      if (!pending_.empty()) {
        pending_.append(line);
        line = pending_;
      }
      if (line.size() > max_frame_) {
        err = {make_error_code(errc::frame_too_large),
               "a JSON frame of " + std::to_string(line.size()) + " bytes exceeds " +
                   std::to_string(max_frame_)};
        return false;
      }
      Message m;
      if (auto fast = fast_parse_json(line)) {
        m = std::move(*fast);
      } else {
        m = Message::parse(line.begin(), line.end(), nullptr, false);
      }
      if (m.is_discarded()) {
        err = {make_error_code(errc::bad_message), describe_bad_line(line)};
        return false;
      }
      pending_.clear();
      sink(std::move(m));
    }
    return true;
  }

  bool buffering() const override { return !pending_.empty(); }

 private:
  static std::string describe_bad_line(std::string_view line) {
    if (line.empty()) return "empty JSON frame";
    std::string shown;
    for (char c : line.substr(0, 40)) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f) {
        shown += c;
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", u);
        shown += buf;
      }
    }
    if (line.size() > 40) shown += "...";
    return "invalid JSON frame: " + shown;
  }

  std::size_t max_frame_;
  std::string pending_;
};

}  // namespace

void write_json(const Message& msg, std::string& out) { write_value(msg, out); }

std::unique_ptr<Codec> make_json_codec(std::size_t max_frame) {
  return std::make_unique<JsonCodec>(max_frame);
}

std::unique_ptr<Codec> make_codec(Serialization mode, std::size_t max_frame) {
  if (mode == Serialization::advanced) return make_v8_codec(max_frame);
  return make_json_codec(max_frame);
}

}  // namespace cluster::ipc
