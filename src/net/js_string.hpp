// JavaScript's String(value) for the message fields Node puts in template strings (the primary's
// handle key, a server's _connectionKey): a missing field is "undefined", null is "null".
#pragma once

#include "cluster/message.hpp"

#include <cmath>
#include <string>

namespace cluster::net::detail {

inline std::string js_string(const Message& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isnan(d)) return "NaN";
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
    return v.dump();
  }
  if (v.is_array()) return "";  // only seen for a hostile peer; the key just won't match
  return "[object Object]";
}

// String(m[field]), "undefined" when m has no such field.
inline std::string js_field(const Message& m, const char* field) {
  auto it = m.find(field);
  return it == m.end() ? "undefined" : js_string(*it);
}

}  // namespace cluster::net::detail
