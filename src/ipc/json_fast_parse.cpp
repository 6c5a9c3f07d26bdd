#include "ipc/json_fast_parse.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

namespace cluster::ipc {
namespace {

constexpr int max_depth = 64;  // deeper: nlohmann's iterative parser takes it

class Parser {
 public:
  explicit Parser(std::string_view t) : p_(t.data()), end_(t.data() + t.size()) {}

  // False: not decided here (unsupported or malformed).
  bool document(Message& out) {
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(Message& out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default: return number(out);
    }
  }

  bool object(Message& out, int depth) {
    if (depth > max_depth) return false;
    ++p_;  // {
    out = Message::object();
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"') return false;
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      Message v;
      if (!value(v, depth)) return false;
      out[std::move(key)] = std::move(v);  // a repeated key keeps its place, last value wins
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return true;
    }
  }

  bool array(Message& out, int depth) {
    if (depth > max_depth) return false;
    ++p_;  // [
    out = Message::array();
    auto& items = out.get_ref<Message::array_t&>();
    skip_ws();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      items.emplace_back();
      if (!value(items.back(), depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      return true;
    }
  }

  // Printable ASCII with \" \\ \/ \b \f \n \r \t escapes; anything else is not decided here.
  bool string(std::string& out) {
    ++p_;  // opening quote
    const char* run = p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out.append(run, p_);
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      out.append(run, p_);
      if (++p_ == end_) return false;
      switch (*p_) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        default: return false;  // \u and invalid escapes
      }
      run = ++p_;
    }
    return false;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // JSON's grammar exactly; integers of up to 18 digits become (unsigned) integers as nlohmann
  // makes them, fractions and exponents doubles (from_chars rounds as strtod does).
  bool number(Message& out) {
    const char* start = p_;
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    const char* int_end = p_;
    bool is_float = false;
    if (p_ != end_ && *p_ == '.') {
      is_float = true;
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_float = true;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (digit(*p_) || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '-' || *p_ == '+')) {
      return false;  // "01", "1.2.3", "1e5e": malformed
    }
    if (!is_float) {
      const char* digits = start + (negative ? 1 : 0);
      if (int_end - digits > 18) return false;  // may not fit: nlohmann decides
      std::uint64_t v = 0;
      for (const char* d = digits; d != int_end; ++d) v = v * 10 + static_cast<std::uint64_t>(*d - '0');
      if (negative) {
        out = -static_cast<std::int64_t>(v);
      } else {
        out = v;
      }
      return true;
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(start, p_, d);
    if (ec != std::errc() || ptr != p_ || !std::isfinite(d)) return false;
    out = d;
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

std::optional<Message> fast_parse_json(std::string_view text) {
  Message out;
  if (!Parser(text).document(out)) return std::nullopt;
  return out;
}

}  // namespace cluster::ipc
