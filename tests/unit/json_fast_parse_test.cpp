// The JSON fast path against nlohmann::json, the reference: on every input it decides, it must
// give the same value with the same types (unsigned, signed, double), and it must never accept an
// input nlohmann rejects. Hand-picked cases plus 60,000 random documents and mutations of them.
#include "ipc/json_fast_parse.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using cluster::Message;
using cluster::ipc::fast_parse_json;

namespace {

// Equal values with equal types all the way down (nlohmann's == treats 1u and 1 as equal).
bool same(const Message& a, const Message& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    auto ia = a.items().begin();
    auto ib = b.items().begin();
    for (; ia != a.items().end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !same(ia.value(), ib.value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_number_float()) {
    double x = a.get<double>(), y = b.get<double>();
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

// Checks one input; returns whether the fast path decided it.
bool check(const std::string& text) {
  Message ref = Message::parse(text.begin(), text.end(), nullptr, false);
  auto fast = fast_parse_json(text);
  if (!fast) return false;
  EXPECT_FALSE(ref.is_discarded()) << "fast path accepted what nlohmann rejects: " << text;
  EXPECT_TRUE(ref.is_discarded() || same(*fast, ref)) << text << "\n fast: " << fast->dump() << "\n ref:  " << ref.dump();
  return true;
}

// Verifies hand-picked valid and malformed inputs.
TEST(JsonFastParse, AgreesWithNlohmannOnHandPickedCases) {
  const std::vector<std::string> decided = {
      R"({"cmd":"NODE_CLUSTER","act":"newconn","key":"127.0.0.1:0:4:undefined:0","seq":12})",
      R"({"a":[1,-2,3.5,-0.25,1e3,1E-3,2.5e+10,0,-0],"b":{"c":null,"d":true,"e":false}})",
      R"("tab\tquote\"slash\/back\\\b\f\n\r")", R"([])", R"({})", R"( [ 1 , { } , [ ] ] )",
      R"({"dup":1,"x":2,"dup":3})", "123456789012345678", "-123456789012345678", "0.1", "1.7976931348623157e308",
      "5e-324"};
  for (const auto& t : decided) EXPECT_TRUE(check(t)) << "not decided: " << t;
  const std::vector<std::string> left = {
      "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "-", "1.", ".5", "1e", "1e+", "+1", "--1",
      "1.2.3", "tru", "nul", "truex", "[1 2]", "{\"a\":1}x", "\"unterminated", "\"bad\\q\"", "\"ctl\x01\"",
      "\"caf\xc3\xa9\"", "\"\\u0041\"", "1234567890123456789", "99999999999999999999", "1e400", "[[[[[[[[",
      "{'a':1}", "NaN", "Infinity", "\"\xff\"", "{\"a\":1}\n"};
  for (const auto& t : left) check(t);  // may or may not decide; must agree when it does
}

// Random JSON text from a small grammar, biased toward the cluster's shapes and the edges.
std::string random_json(std::mt19937& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  static const char* strings[] = {"", "a", "NODE_CLUSTER", "x y", "q\\\"", "\\n\\t", "\\u00e9", "caf\xc3\xa9",
                                  "\\/", "\\\\"};
  static const char* numbers[] = {"0", "-0", "1", "-1", "42", "3.5", "-2.25e-3", "1E10", "123456789012345678",
                                  "1234567890123456789", "18446744073709551615", "18446744073709551616",
                                  "-9223372036854775808", "0.1", "1e308", "2e308", "4.9e-324"};
  int kind = depth > 6 ? 3 + pick(4) : pick(7);
  switch (kind) {
    case 0: {
      std::string s = "{";
      int n = pick(5);
      for (int i = 0; i < n; ++i) {
        if (i) s += ",";
        s += std::string("\"") + strings[pick(10)] + "\":" + random_json(rng, depth + 1);
      }
      return s + "}";
    }
    case 1: {
      std::string s = "[";
      int n = pick(5);
      for (int i = 0; i < n; ++i) {
        if (i) s += pick(8) ? "," : " , ";
        s += random_json(rng, depth + 1);
      }
      return s + "]";
    }
    case 2: return pick(2) ? "true" : pick(2) ? "false" : "null";
    case 3:
    case 4: return std::string("\"") + strings[pick(10)] + "\"";
    default: return numbers[pick(17)];
  }
}

// Verifies agreement on random documents and on random mutations of them (malformed ones).
TEST(JsonFastParse, AgreesWithNlohmannOnRandomInputs) {
  std::mt19937 rng(20261125);
  const std::string alphabet = "{}[]\":,.-+eE0123456789 tfnul\\x\x01\xc3";
  int decided = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string doc = random_json(rng, 0);
    decided += check(doc);
    std::string bad = doc;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !bad.empty(); ++e) {
      std::size_t at = rng() % bad.size();
      switch (rng() % 3) {
        case 0: bad.erase(at, 1); break;
        case 1: bad.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: bad[at] = alphabet[rng() % alphabet.size()]; break;
      }
    }
    check(bad);
  }
  EXPECT_GT(decided, 10000);  // the fast path really is exercised
}

}  // namespace
