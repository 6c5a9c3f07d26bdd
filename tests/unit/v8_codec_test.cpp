// The 'advanced' (V8 serializer) codec: golden bytes from node 20, decoding of every tag node
// can send, hostile frames, split feeding, and both directions checked by node itself.
#include "ipc/v8_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

namespace cluster::ipc {
namespace {

constexpr std::size_t big_limit = 64u << 20;

std::string unhex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;
    }
    if (hi < 0) {
      hi = v;
    } else {
      out += static_cast<char>(hi * 16 + v);
      hi = -1;
    }
  }
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// A frame around a payload given in hex.
std::string frame(std::string_view payload_hex) {
  const std::string payload = unhex(payload_hex);
  std::string f(4, '\0');
  const auto n = static_cast<std::uint32_t>(payload.size());
  f[0] = static_cast<char>(n >> 24);
  f[1] = static_cast<char>(n >> 16);
  f[2] = static_cast<char>(n >> 8);
  f[3] = static_cast<char>(n);
  return f + payload;
}

Message bin(std::vector<std::uint8_t> bytes) { return Message::binary(std::move(bytes)); }

std::string encode(const Message& m) {
  auto codec = make_v8_codec(big_limit);
  std::string out;
  EXPECT_FALSE(codec->encode(m, out));
  return out;
}

struct Decoded {
  std::vector<Message> messages;
  bool ok = true;
  DecodeError err;
};

Decoded decode(std::string_view bytes, std::size_t limit = big_limit) {
  auto codec = make_v8_codec(limit);
  Decoded d;
  d.ok = codec->feed(bytes, [&](Message&& m) { d.messages.push_back(std::move(m)); }, d.err);
  if (d.ok && codec->buffering()) {
    d.ok = false;
    d.err.detail = "frame incomplete";
  }
  return d;
}

Message decode_one(std::string_view bytes) {
  Decoded d = decode(bytes);
  EXPECT_TRUE(d.ok) << d.err.detail;
  EXPECT_EQ(d.messages.size(), 1u);
  return d.messages.empty() ? Message() : d.messages.front();
}

// Value equality where numbers compare by value (an unsigned 1 equals an integer 1 and a 1.0),
// NaN equals NaN, -0 differs from 0, and object keys must come in the same order.
bool same(const Message& a, const Message& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) {
      const double x = a.get<double>(), y = b.get<double>();
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
      return x == y && std::signbit(x) == std::signbit(y);
    }
    return a == b;
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
      if (i.key() != j.key() || !same(i.value(), j.value())) return false;
    }
    return true;
  }
  if (a.is_binary()) return a.get_binary() == b.get_binary();
  return a == b;
}

std::string show(const Message& m) {
  std::string s = m.dump(-1, ' ', false, Message::error_handler_t::replace);
  return s.size() > 300 ? s.substr(0, 300) + "..." : s;
}

#define EXPECT_SAME(got, want)                                                    \
  do {                                                                            \
    const Message got_ = (got);                                                   \
    const Message want_ = (want);                                                 \
    EXPECT_TRUE(same(got_, want_)) << show(got_) << "\n  vs " << show(want_);     \
  } while (0)

Message pattern_binary(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 7);
  return bin(std::move(v));
}

Message deep_arrays(int depth) {
  Message m = Message::array();
  for (int i = 1; i < depth; ++i) m = Message::array({std::move(m)});
  return m;
}

// ---------------------------------------------------------------------------------------------
// The golden cases: every name printed by tests/unit/v8_golden.js. hex is node 20's frame for
// the value (captured from its IPC channel; empty when too large to embed). exact: encoding the
// expected Message gives node's bytes. error: decoding must fail with that code.

struct Golden {
  std::string name;
  Message value;
  bool exact;
  std::string hex;
  std::optional<errc> error;
};

const std::vector<Golden>& golden_cases() {
  static const std::vector<Golden> cases = [] {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const auto j = [](const char* text) { return Message::parse(text); };
    std::string long_two = "000000ceff0f0063c801";
    for (int i = 0; i < 100; ++i) long_two += "ac20";
    std::string long_one = "00000131ff0f22ac02";
    for (int i = 0; i < 300; ++i) long_one += "78";
    std::string euros;
    for (int i = 0; i < 100; ++i) euros += "\xE2\x82\xAC";
    Message many = Message::object();
    for (int i = 0; i < 20; ++i) many["k" + std::to_string(i)] = i;
    std::vector<Golden> v = {
        {"null", nullptr, true, "00000003ff0f30", {}},
        {"true", true, true, "00000003ff0f54", {}},
        {"false", false, true, "00000003ff0f46", {}},
        {"int_0", 0, true, "00000004ff0f4900", {}},
        {"int_1", 1, true, "00000004ff0f4902", {}},
        {"int_neg", -1, true, "00000004ff0f4901", {}},
        {"int_42", 42, true, "00000004ff0f4954", {}},
        {"int32_max", 2147483647, true, "00000008ff0f49feffffff0f", {}},
        {"int32_min", std::int64_t{-2147483648LL}, true, "00000008ff0f49ffffffff0f", {}},
        {"num_2p31", std::int64_t{2147483648LL}, true, "0000000bff0f4e000000000000e041", {}},
        {"num_below_int32", std::int64_t{-2147483649LL}, true, "0000000bff0f4e000020000000e0c1", {}},
        {"num_2p53", std::int64_t{9007199254740992LL}, true, "0000000bff0f4e0000000000004043", {}},
        {"num_half", 0.5, true, "0000000bff0f4e000000000000e03f", {}},
        {"num_pi", 3.141592653589793, true, "0000000bff0f4e182d4454fb210940", {}},
        {"num_neg_zero", -0.0, true, "0000000bff0f4e0000000000000080", {}},
        {"num_nan", nan, true, "0000000bff0f4e000000000000f87f", {}},
        {"num_inf", inf, true, "0000000bff0f4e000000000000f07f", {}},
        {"num_ninf", -inf, true, "0000000bff0f4e000000000000f0ff", {}},
        {"num_1e21", 1e21, true, "0000000bff0f4e50efe2d6e41a4b44", {}},
        {"str_empty", "", true, "00000004ff0f2200", {}},
        {"str_hello", "hello", true, "00000009ff0f220568656c6c6f", {}},
        {"str_latin1", "w\xC3\xB6rld \xC3\xBF", true, "0000000bff0f220777f6726c6420ff", {}},
        {"str_nul", std::string("a\0b", 3), true, "00000007ff0f2203610062", {}},
        {"str_bmp", "\xE2\x82\xACuro", true, "0000000cff0f6308ac20750072006f00", {}},
        {"str_astral", "\xF0\x9F\x98\x80", true, "00000008ff0f63043dd800de", {}},
        {"str_long_two_byte", euros, true, long_two, {}},
        {"str_long_one_byte", std::string(300, 'x'), true, long_one, {}},
        {"obj_pad0", j(R"({"a":"€"})"), true, "0000000cff0f6f2201616302ac207b01", {}},
        {"obj_pad1", j(R"({"ab":"€"})"), true, "0000000eff0f6f22026162006302ac207b01", {}},
        {"obj_pad2", j(R"({"abc":"€","d":"ü€"})"), true,
         "00000018ff0f6f22036162636302ac20220164006304fc00ac207b02", {}},
        {"arr_pad", j(R"(["x","€","yy","€"])"), true,
         "00000017ff0f4104220178006302ac20220279796302ac20240004", {}},
        {"arr_empty", Message::array(), true, "00000007ff0f4100240000", {}},
        {"arr_mixed", j(R"([1,"x"])"), true, "0000000cff0f41024902220178240002", {}},
        {"arr_doubles", j("[1,2.5]"), true,
         "00000019ff0f41024e000000000000f03f4e0000000000000440240002", {}},
        {"arr_big_ints", j("[1,1099511627776]"), true,
         "00000019ff0f41024e000000000000f03f4e0000000000007042240002", {}},
        {"arr_mixed_double", j(R"([1.5,"x",2])"), true,
         "00000015ff0f41034e000000000000f83f2201784904240003", {}},
        {"arr_nested", j("[[1],[2,[3]],[]]"), true,
         "00000021ff0f41034101490224000141024904410149062400012400024100240000240003", {}},
        {"arr_literals", j("[true,false,null]"), true, "0000000aff0f4103544630240003", {}},
        {"obj_empty", Message::object(), true, "00000005ff0f6f7b00", {}},
        {"obj_hello", j(R"({"hello":"wörld","n":1})"), true,
         "00000018ff0f6f220568656c6c6f220577f6726c6422016e49027b02", {}},
        {"obj_nested", j(R"({"a":{"b":{"c":[1,{"d":"e"}]}},"f":null})"), true,
         "00000028ff0f6f2201616f2201626f220163410249026f2201642201657b012400027b017b01220166307b02", {}},
        {"obj_index_keys", j(R"({"0":3,"1":2,"b":1})"), true,
         "00000012ff0f6f490049064902490422016249027b03", {}},
        {"obj_big_index_keys", j(R"({"2147483647":1,"2147483648":2,"4294967294":3,"4294967295":4})"),
         true,
         "00000031ff0f6f49feffffff0f49024e000000000000e04149044e0000c0ffffffef414906220a343239343936"
         "3732393549087b04",
         {}},
        {"obj_not_index_keys", j(R"({"-1":1,"01":2,"1.5":3,"":4})"), true,
         "0000001cff0f6f22022d3149022202303149042203312e354906220049087b04", {}},
        {"obj_many_keys", many, true, "", {}},
        {"obj_cluster_online", j(R"({"cmd":"NODE_CLUSTER","act":"online","seq":0})"), true,
         "0000002cff0f6f2203636d64220c4e4f44455f434c5553544552220361637422066f6e6c696e6522037365714900"
         "7b03",
         {}},
        {"buf", bin({1, 2, 3}), true, "00000009ff0f5c000a03010203", {}},
        {"buf_empty", bin({}), true, "00000006ff0f5c000a00", {}},
        {"obj_buf", Message::object({{"buf", bin({1, 2, 3})}, {"s", "\xE2\x82\xAC"}}), true,
         "00000018ff0f6f22036275665c000a030102032201736302ac207b02", {}},
        {"deep_arrays", deep_arrays(100), true, "", {}},
        {"buf_16mib", pattern_binary(16u << 20), true, "", {}},
        {"undefined_prop", j(R"({"b":1})"), false, "0000000eff0f6f2201615f22016249027b02", {}},
        {"arr_undefined", j("[null,1]"), false, "0000000aff0f41025f4902240002", {}},
        {"date_epoch", "1970-01-01T00:00:00.000Z", false, "0000000bff0f440000000000000000", {}},
        {"date_obj", j(R"({"d":"2024-02-29T13:05:09.007Z"})"), false,
         "00000011ff0f6f2201644400f0b87f4fdf78427b01", {}},
        {"date_negative", "1969-12-31T23:59:59.999Z", false, "0000000bff0f44000000000000f0bf", {}},
        {"date_far", "+275760-09-13T00:00:00.000Z", false, "0000000bff0f440000dcc208b23e43", {}},
        {"date_invalid", nullptr, false, "0000000bff0f44000000000000f87f", {}},
        {"bigint_small", j(R"({"n":1,"m":-1,"z":0})"), false,
         "00000024ff0f6f22016e5a10010000000000000022016d5a11010000000000000022017a5a007b03", {}},
        {"bigint_extremes",
         Message::object({{"min", std::numeric_limits<std::int64_t>::min()},
                          {"max", std::numeric_limits<std::uint64_t>::max()}}),
         false,
         "00000023ff0f6f22036d696e5a11000000000000008022036d61785a10ffffffffffffffff7b02", {}},
        {"map", j(R"([["a",1],[2,"b"]])"), false, "0000000fff0f3b220161490249042201623a04", {}},
        {"set", j(R"([1,"x"])"), false, "0000000aff0f2749022201782c02", {}},
        {"regexp", j(R"({"r":{}})"), false, "0000000fff0f6f220172522203612b62037b01", {}},
        {"boxed", j(R"([1.5,"s€",false,true,5])"), false,
         "00000023ff0f41056e000000000000f83f7363047300ac2078797a100500000000000000240005", {}},
        {"shared_object", j(R"([{"x":1},{"x":1},{"o":{"x":1}}])"), false,
         "00000019ff0f41036f22017849027b015e016f22016f5e017b01240003", {}},
        {"shared_buffer", Message::object({{"a", bin({7})}, {"b", bin({7})}}), false,
         "00000012ff0f6f2201615c000a01072201625e017b02", {}},
        {"sparse", j("[1,null,3]"), false, "0000000fff0f61034900490249044906400203", {}},
        {"holes", j("[null,null,null]"), false, "00000007ff0f6103400003", {}},
        {"arr_named_prop", j("[1,2]"), false, "00000010ff0f410249024904220178490a240102", {}},
        {"u8", bin({1, 2, 255}), false, "00000009ff0f5c0001030102ff", {}},
        {"u8_clamped", bin({9}), false, "00000007ff0f5c00020109", {}},
        {"i8", j("[-1,1]"), false, "00000008ff0f5c000002ff01", {}},
        {"i16", j("[1,-1]"), false, "0000000aff0f5c0003040100ffff", {}},
        {"u16", j("[65535]"), false, "00000008ff0f5c000402ffff", {}},
        {"i32", j("[-5]"), false, "0000000aff0f5c000504fbffffff", {}},
        {"u32", j("[4294967295]"), false, "0000000aff0f5c000604ffffffff", {}},
        {"f32", j("[0.5,2]"), false, "0000000eff0f5c0007080000003f00000040", {}},
        {"f64", j("[0.25,-3]"), false, "00000016ff0f5c000810000000000000d03f00000000000008c0", {}},
        {"big64", j("[-1,5]"), false, "00000016ff0f5c000b10ffffffffffffffff0500000000000000", {}},
        {"bigu64", Message::array({std::numeric_limits<std::uint64_t>::max()}), false,
         "0000000eff0f5c000c08ffffffffffffffff", {}},
        {"dataview", bin({4, 5}), false, "00000008ff0f5c0009020405", {}},
        {"arraybuffer", bin({6, 7}), false, "00000006ff0f42020607", {}},
        {"error", j(R"({"name":"RangeError","message":"r"})"), false, "00000009ff0f72526d2201722e", {}},
        {"error_cause", j(R"({"name":"Error","message":"x","stack":"S","cause":{"c":1}})"), false,
         "00000015ff0f726d220178636f22016349027b01732201532e", {}},
        {"two_byte_latin1", "a\xC3\xA9", false, "00000008ff0f63046100e900", {}},
        {"circular", nullptr, false, "00000012ff0f6f2201614902220473656c665e007b02",
         errc::unsupported_value},
    };
    return v;
  }();
  return cases;
}

void check_golden(const Golden& g, const std::string& bytes) {
  SCOPED_TRACE(g.name);
  Decoded d = decode(bytes);
  if (g.error) {
    EXPECT_FALSE(d.ok);
    EXPECT_EQ(d.err.code, make_error_code(*g.error)) << d.err.detail;
    return;
  }
  ASSERT_TRUE(d.ok) << d.err.detail;
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_SAME(d.messages[0], g.value);
  if (g.exact) {
    const std::string mine = encode(g.value);
    EXPECT_TRUE(mine == bytes) << "encoder wrote " << hex(mine.substr(0, 200)) << "\n node wrote "
                               << hex(bytes.substr(0, 200));
  }
}

// Verifies that frames node 20 wrote (embedded) decode to the expected Messages and that the
// encoder reproduces node's bytes exactly wherever the mapping is exact.
TEST(V8Codec, EmbeddedGoldenFrames) {
  int checked = 0;
  for (const auto& g : golden_cases()) {
    if (g.hex.empty()) continue;
    check_golden(g, unhex(g.hex));
    ++checked;
  }
  EXPECT_GT(checked, 80);
}

bool have_node() { return std::system("command -v node >/dev/null 2>&1") == 0; }

// Runs a shell command; returns its stdout, and its exit status in status.
std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// Verifies, against the node on PATH, every golden case: node's channel bytes decode to the
// expected Message, and the encoder writes node's bytes where the mapping is exact.
TEST(V8Codec, NodeGoldenFrames) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  int status = 0;
  const std::string out = run("node " TESTS_DIR "/unit/v8_golden.js", status);
  ASSERT_EQ(status, 0);
  std::map<std::string, const Golden*> by_name;
  for (const auto& g : golden_cases()) by_name[g.name] = &g;
  std::size_t seen = 0;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string_view line(out.data() + pos, nl - pos);
    pos = nl + 1;
    const auto sp = line.find(' ');
    ASSERT_NE(sp, std::string_view::npos);
    const std::string name(line.substr(0, sp));
    auto it = by_name.find(name);
    ASSERT_NE(it, by_name.end()) << "no expectation for " << name;
    const std::string bytes = unhex(line.substr(sp + 1));
    check_golden(*it->second, bytes);
    if (!it->second->hex.empty()) {
      EXPECT_EQ(hex(bytes), it->second->hex) << name << ": node now writes other bytes";
    }
    ++seen;
  }
  EXPECT_EQ(seen, golden_cases().size());
}

// The expected value in v8_check.js's notation: Buffers and non-JSON numbers tagged.
Message tagged(const Message& m) {
  if (m.is_binary()) return Message::object({{"$buffer", hex(std::string(m.get_binary().begin(), m.get_binary().end()))}});
  if (m.is_number_float()) {
    const double d = m.get<double>();
    if (std::isnan(d)) return Message::object({{"$number", "NaN"}});
    if (std::isinf(d)) return Message::object({{"$number", d > 0 ? "Infinity" : "-Infinity"}});
    if (d == 0 && std::signbit(d)) return Message::object({{"$number", "-0"}});
  }
  if (m.is_array()) {
    Message a = Message::array();
    for (const auto& e : m) a.push_back(tagged(e));
    return a;
  }
  if (m.is_object()) {
    Message o = Message::object();
    for (const auto& [k, v] : m.items()) o[k] = tagged(v);
    return o;
  }
  return m;
}

// Verifies the other direction: node's own channel decodes what the encoder writes into the
// expected values (tests/unit/v8_check.js), for the exact golden cases and harder strings.
TEST(V8Codec, NodeDecodesEncoderOutput) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  std::vector<std::pair<std::string, Message>> values;
  for (const auto& g : golden_cases()) {
    if (g.exact && g.name != "buf_16mib") values.emplace_back(g.name, g.value);
  }
  // Two-byte strings at every parity, nested at varying offsets.
  for (int pad = 0; pad < 4; ++pad) {
    Message o = Message::object();
    o[std::string(static_cast<std::size_t>(pad), 'k')] = "\xE2\x82\xAC\xF0\x9F\x98\x80";
    o["x" + std::string(static_cast<std::size_t>(pad), 'y')] = Message::array({"\xC3\xA9", "\xE4\xB8\xAD"});
    values.emplace_back("pad_" + std::to_string(pad), o);
  }
  values.emplace_back("int64_beyond_2p53", Message(std::int64_t{9007199254740993LL}));
  values.emplace_back("uint64_max", Message(std::numeric_limits<std::uint64_t>::max()));
  values.emplace_back("int64_min", Message(std::numeric_limits<std::int64_t>::min()));
  values.emplace_back("float_integral", Message(3.0));
  values.emplace_back("binary_1mib", pattern_binary(1u << 20));
  values.emplace_back("mixed", Message::parse(R"({"z":[1,-2.25,"a\u0000\u00ff\u0100\uffff"],"9":{"":true},"5":null})"));
  values.emplace_back("index_keys_reordered", Message::parse(R"({"b":1,"10":2,"2":3,"4294967295":4})"));

  char dir_template[] = "/tmp/v8codec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;
  {
    std::ofstream frames(dir / "frames.txt");
    Message expected = Message::object();
    for (const auto& [name, value] : values) {
      frames << name << ' ' << hex(encode(value)) << '\n';
      // JS numbers are doubles: what node sees for a 64-bit integer is its nearest double.
      Message want = value;
      if (value.is_number_integer() || value.is_number_unsigned()) {
        const double d = value.get<double>();
        want = (std::fabs(d) <= 9007199254740992.0) ? value : Message(d);
      }
      expected[name] = tagged(want);
    }
    std::ofstream(dir / "expected.json") << expected.dump();
  }
  int status = 0;
  const std::string out = run("node " TESTS_DIR "/unit/v8_check.js " + (dir / "frames.txt").string() +
                                  " " + (dir / "expected.json").string() + " 2>&1",
                              status);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "ok " + std::to_string(values.size()) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Encoding.

// Verifies that doubles holding int32 values are written as V8 writes the same JS number (a Smi),
// and that -0, NaN (any payload) and values past int32 become 'N'.
TEST(V8Codec, EncodesNumbersAsV8Does) {
  EXPECT_EQ(hex(encode(1.0)), "00000004ff0f4902");
  EXPECT_EQ(hex(encode(-2147483648.0)), "00000008ff0f49ffffffff0f");
  EXPECT_EQ(hex(encode(Message(std::uint64_t{5}))), "00000004ff0f490a");
  EXPECT_EQ(hex(encode(-0.0)), "0000000bff0f4e0000000000000080");
  EXPECT_EQ(hex(encode(-std::numeric_limits<double>::quiet_NaN())), "0000000bff0f4e000000000000f87f");
  EXPECT_EQ(hex(encode(std::int64_t{1} << 40)), "0000000bff0f4e0000000000007042");
  // Past 2^53 a JS number cannot hold every integer: 2^53 + 1 arrives as 2^53.
  Message m = decode_one(encode(std::int64_t{9007199254740993LL}));
  EXPECT_EQ(m.get<std::int64_t>(), 9007199254740992LL);
  m = decode_one(encode(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_TRUE(m.is_number_float());
  EXPECT_EQ(m.get<double>(), 18446744073709551616.0);
}

// Verifies that integer-like keys go first, ascending, as numbers, like a JS object's keys.
TEST(V8Codec, EncodesIndexKeysFirst) {
  EXPECT_EQ(hex(encode(Message::parse(R"({"b":1,"1":2,"0":3})"))),
            "00000012ff0f6f490049064902490422016249027b03");
  EXPECT_EQ(hex(encode(Message::parse(R"({"01":1,"-0":2})"))),
            "00000011ff0f6f2202303149022202" "2d3049047b02");
}

// Verifies that the UTF-16 alignment padding is computed from the frame's own start even when
// out already holds other bytes.
TEST(V8Codec, PaddingIsRelativeToTheFrame) {
  auto codec = make_v8_codec(big_limit);
  std::string out = "X";
  ASSERT_FALSE(codec->encode(Message::parse(R"({"ab":"€"})"), out));
  EXPECT_EQ(hex(out), "58" "0000000eff0f6f22026162006302ac207b01");
}

// Verifies that strings which are not valid UTF-8 are refused and leave out as it was.
TEST(V8Codec, RejectsInvalidUtf8) {
  auto codec = make_v8_codec(big_limit);
  for (const char* bad : {"\xFF", "a\xC3", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"}) {
    std::string out = "keep";
    EXPECT_EQ(codec->encode(Message(bad), out), make_error_code(errc::unsupported_value)) << hex(bad);
    EXPECT_EQ(codec->encode(Message::object({{bad, 1}}), out), make_error_code(errc::unsupported_value));
    EXPECT_EQ(codec->encode(Message::array({1, Message::array({bad})}), out),
              make_error_code(errc::unsupported_value));
    EXPECT_EQ(out, "keep");
  }
}

// Verifies that nesting past the decoder's limit is refused when encoding too.
TEST(V8Codec, RejectsTooDeepOnEncode) {
  auto codec = make_v8_codec(big_limit);
  std::string out;
  EXPECT_EQ(codec->encode(deep_arrays(1200), out), make_error_code(errc::unsupported_value));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(codec->encode(deep_arrays(900), out));
  EXPECT_SAME(decode_one(out), deep_arrays(900));
}

// Verifies that values survive encode then decode, including every kind of character.
TEST(V8Codec, RoundTrips) {
  const std::vector<Message> values = {
      nullptr,
      true,
      Message::parse(R"({"cmd":"NODE_CLUSTER","act":"queryServer","seq":3,"args":[0,"127.0.0.1",null,4]})"),
      Message::parse(R"({"a":[1,2.5,-3,1e300,-1e-300],"b":{"c":{"d":[]}},"e":"","f":false})"),
      Message("\x01\x7F\xC2\x80\xC3\xBF\xC4\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
      Message::object({{"\xE4\xB8\xAD\xE6\x96\x87", "\xF0\x9F\x98\x80"}, {"bin", bin({0, 255})}}),
      Message::array({bin({}), Message::array(), Message::object(), ""}),
      std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::denorm_min(),
  };
  for (const auto& v : values) EXPECT_SAME(decode_one(encode(v)), v);
}

// Verifies random nested values round-trip (fixed seed).
TEST(V8Codec, RandomRoundTrips) {
  std::mt19937 rng(20240229);
  const std::vector<std::string> pieces = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "7", "0", ""};
  std::function<Message(int)> gen = [&](int depth) -> Message {
    switch (rng() % (depth > 4 ? 6 : 9)) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return static_cast<std::int64_t>(rng()) - (1LL << 31);
      case 3: return static_cast<double>(rng()) / 7.0;
      case 4: {
        std::string s;
        for (unsigned i = rng() % 6; i > 0; --i) s += pieces[rng() % pieces.size()];
        return s;
      }
      case 5: return bin(std::vector<std::uint8_t>(rng() % 5, 0xAB));
      case 6:
      case 7: {
        Message a = Message::array();
        for (unsigned i = rng() % 5; i > 0; --i) a.push_back(gen(depth + 1));
        return a;
      }
      default: {
        Message o = Message::object();
        for (unsigned i = rng() % 5; i > 0; --i) o["k" + pieces[rng() % pieces.size()]] = gen(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 500; ++i) {
    const Message v = gen(0);
    EXPECT_SAME(decode_one(encode(v)), v);
  }
}

// Verifies a 16 MiB Buffer round trip, fed in 64 KiB pieces as a socket would deliver it.
TEST(V8Codec, SixteenMebibyteBinary) {
  const Message v = pattern_binary(16u << 20);
  const std::string bytes = encode(v);
  EXPECT_EQ(bytes.size(), (16u << 20) + 4 + 2 + 1 + 1 + 1 + 4);
  auto codec = make_v8_codec((16u << 20) + 10);
  std::vector<Message> got;
  DecodeError err;
  for (std::size_t off = 0; off < bytes.size(); off += 65536) {
    ASSERT_TRUE(codec->feed(std::string_view(bytes).substr(off, 65536),
                            [&](Message&& m) { got.push_back(std::move(m)); }, err))
        << err.detail;
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0] == v);
  EXPECT_FALSE(codec->buffering());
}

// ---------------------------------------------------------------------------------------------
// Framing.

// Verifies that frames split at every byte, including inside the length prefix, decode in order
// and that buffering() reports a partial frame.
TEST(V8Codec, FeedsByteByByte) {
  std::string stream;
  std::vector<Message> sent;
  for (const auto& g : golden_cases()) {
    if (!g.exact || g.hex.empty()) continue;
    sent.push_back(g.value);
    stream += unhex(g.hex);
  }
  auto codec = make_v8_codec(big_limit);
  std::vector<Message> got;
  DecodeError err;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(codec->feed(stream.substr(i, 1), [&](Message&& m) { got.push_back(std::move(m)); }, err))
        << err.detail;
  }
  EXPECT_FALSE(codec->buffering());
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_SAME(got[i], sent[i]);

  got.clear();
  ASSERT_TRUE(codec->feed(stream.substr(0, 2), [&](Message&& m) { got.push_back(std::move(m)); }, err));
  EXPECT_TRUE(codec->buffering());
  ASSERT_TRUE(codec->feed(stream.substr(2, 5), [&](Message&& m) { got.push_back(std::move(m)); }, err));
  EXPECT_EQ(got.size(), 1u);  // "null" is 7 bytes
  EXPECT_FALSE(codec->buffering());
}

// Verifies that several frames in one feed, and random splits, all decode.
TEST(V8Codec, FeedsRandomChunks) {
  std::string stream;
  for (int i = 0; i < 50; ++i) {
    stream += encode(Message::object({{"i", i}, {"s", std::string(static_cast<std::size_t>(i), 'z')}}));
  }
  std::mt19937 rng(7);
  auto codec = make_v8_codec(big_limit);
  int count = 0;
  DecodeError err;
  for (std::size_t off = 0; off < stream.size();) {
    const std::size_t n = rng() % 40;
    ASSERT_TRUE(codec->feed(std::string_view(stream).substr(off, n), [&](Message&& m) {
      EXPECT_EQ(m["i"], count);
      ++count;
    }, err)) << err.detail;
    off += n;
  }
  EXPECT_EQ(count, 50);
  EXPECT_EQ(decode(stream).messages.size(), 50u);
}

// Verifies that a length above max_frame fails as soon as the prefix is read, and that a failed
// codec stays failed.
TEST(V8Codec, FrameTooLargeAtPrefix) {
  auto codec = make_v8_codec(100);
  DecodeError err;
  int calls = 0;
  auto sink = [&](Message&&) { ++calls; };
  ASSERT_TRUE(codec->feed(unhex("0000"), sink, err));
  EXPECT_FALSE(codec->feed(unhex("0065"), sink, err));
  EXPECT_EQ(err.code, make_error_code(errc::frame_too_large));
  DecodeError again;
  EXPECT_FALSE(codec->feed(frame("ff0f30"), sink, again));
  EXPECT_EQ(again.code, make_error_code(errc::frame_too_large));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(decode(unhex("ffffffff"), 1u << 20).err.code, make_error_code(errc::frame_too_large));
  // Exactly max_frame bytes is allowed: header, 97 padding bytes, null.
  EXPECT_TRUE(decode(frame("ff0f" + std::string(2 * 97, '0') + "30"), 100).ok);
}

// ---------------------------------------------------------------------------------------------
// Decoding what only node sends, and hostile frames.

void expect_bad(std::string_view payload_hex, std::string_view detail_part = {},
                errc code = errc::bad_message) {
  Decoded d = decode(frame(payload_hex));
  EXPECT_FALSE(d.ok) << payload_hex;
  EXPECT_EQ(d.err.code, make_error_code(code)) << payload_hex << ": " << d.err.detail;
  if (!detail_part.empty()) {
    EXPECT_NE(d.err.detail.find(detail_part), std::string::npos) << d.err.detail;
  }
}

Message decode_payload(std::string_view payload_hex) { return decode_one(frame(payload_hex)); }

// Verifies the version header: 13 to 15 are read (13 without view flags), 16 is refused, and a
// payload without a header reads as V8 reads it.
TEST(V8Codec, VersionHeader) {
  EXPECT_SAME(decode_payload("ff0d4902"), Message(1));
  EXPECT_SAME(decode_payload("ff0e4902"), Message(1));
  EXPECT_SAME(decode_payload("4902"), Message(1));
  EXPECT_SAME(decode_payload("ff0d42020506 5642 00 02"), bin({5, 6}));
  EXPECT_SAME(decode_payload("ff0f42020506 5642 00 02 00"), bin({5, 6}));
  expect_bad("ff104902", "version 16");
  expect_bad("ff", "version");
  expect_bad("ff0f");
  expect_bad("");
}

// Verifies padding bytes before any tag are skipped.
TEST(V8Codec, SkipsPadding) {
  EXPECT_SAME(decode_payload("ff0f00004902"), Message(1));
  EXPECT_SAME(decode_payload("ff0f6f00220161000049020000 7b01"), Message::parse(R"({"a":1})"));
}

// Verifies ArrayBuffer views, including one on a buffer reached through a back-reference.
TEST(V8Codec, ArrayBufferViews) {
  EXPECT_SAME(decode_payload("ff0f420401020304 5642 01 02 00"), bin({2, 3}));
  EXPECT_SAME(decode_payload("ff0f420401020304 5677 00 04 00"), Message::parse("[513,1027]"));
  EXPECT_SAME(decode_payload("ff0f420401020304 563f 00 04 00"), bin({1, 2, 3, 4}));
  EXPECT_SAME(decode_payload("ff0f4102 420109 5e01 5642 00 01 00 240002"),
              Message::array({bin({9}), bin({9})}));
  // The view itself referenced again.
  EXPECT_SAME(decode_payload("ff0f4102 42020809 5642 01 01 00 5e02 240002"),
              Message::array({bin({9}), bin({9})}));
  expect_bad("ff0f420401020304 5642 03 02 00", "outside");
  expect_bad("ff0f420401020304 5677 01 02 00", "misaligned");
  expect_bad("ff0f420401020304 5677 00 03 00", "multiple");
  expect_bad("ff0f420401020304 5678 00 02 00", "unknown ArrayBufferView type");
  expect_bad("ff0f5642000000", "without an ArrayBuffer");
}

// Verifies host objects: kind 1 is a plain-object copy, unknown kinds and types are refused.
TEST(V8Codec, HostObjects) {
  EXPECT_SAME(decode_payload("ff0f5c016f22016149027b01"), Message::parse(R"({"a":1})"));
  expect_bad("ff0f5c020a00", "host object kind");
  expect_bad("ff0f5c000d00", "type index 13");
  expect_bad("ff0f5c000a0501", "declares 5 bytes");
}

// Verifies Map and Set details: undefined values become null, counts must match.
TEST(V8Codec, MapsAndSets) {
  EXPECT_SAME(decode_payload("ff0f3b22016b5f3a02"), Message::parse(R"([["k",null]])"));
  EXPECT_SAME(decode_payload("ff0f275f2c01"), Message::parse("[null]"));
  expect_bad("ff0f3b22016b5f3a04", "entry count");
  expect_bad("ff0f2749022c02", "size");
}

// Verifies strings the encoder never writes: UTF-8 'S' (ill-formed parts become U+FFFD), lone
// surrogates (U+FFFD), odd two-byte lengths (refused).
TEST(V8Codec, OddStrings) {
  EXPECT_SAME(decode_payload("ff0f530361ff62"), Message("a\xEF\xBF\xBD" "b"));
  EXPECT_SAME(decode_payload("ff0f5304e282ac61"), Message("\xE2\x82\xAC" "a"));
  EXPECT_SAME(decode_payload("ff0f5303e28261"), Message("\xEF\xBF\xBD" "a"));
  EXPECT_SAME(decode_payload("ff0f630200d8"), Message("\xEF\xBF\xBD"));
  EXPECT_SAME(decode_payload("ff0f630600dc3dd800de"), Message("\xEF\xBF\xBD\xF0\x9F\x98\x80"));
  expect_bad("ff0f6303610062", "odd byte length");
  // String objects and regexps before version 12 carried raw UTF-8.
  EXPECT_SAME(decode_payload("ff0b7302c3a9"), Message("\xC3\xA9"));
}

// Verifies property keys: numbers become their JS strings, repeats are refused.
TEST(V8Codec, PropertyKeys) {
  EXPECT_SAME(decode_payload("ff0f6f4e000000000000f83f30 55 05 30 7b02"),
              Message::parse(R"({"1.5":null,"5":null})"));
  EXPECT_SAME(decode_payload("ff0f6f4e0000000000000000304901307b02"),
              Message::parse(R"({"0":null,"-1":null})"));
  expect_bad("ff0f6f22016149022201614904 7b02", "repeats");
  expect_bad("ff0f6f490249022201314904 7b02", "repeats");
  expect_bad("ff0f6f5a0030 7b01", "invalid property key");
}

// Verifies BigInts: 64-bit values are integers, wider ones are refused as unsupported.
TEST(V8Codec, BigInts) {
  EXPECT_SAME(decode_payload("ff0f5a10ffffffffffffff7f"), Message(std::numeric_limits<std::int64_t>::max()));
  EXPECT_SAME(decode_payload("ff0f5a200500000000000000 0000000000000000"), Message(5));
  expect_bad("ff0f5a2000000000000000000100000000000000", "wider", errc::unsupported_value);
  expect_bad("ff0f5a11ffffffffffffffff", "below", errc::unsupported_value);
  expect_bad("ff0f5afeffffff0f00", "declares");
}

// Verifies dates outside 0000-9999 use the extended ISO year, as toISOString does.
TEST(V8Codec, Dates) {
  auto date = [](double ms) {
    std::string h = "ff0f44";
    char raw[8];
    std::memcpy(raw, &ms, 8);
    return decode_payload(h + hex(std::string_view(raw, 8)));
  };
  EXPECT_SAME(date(-62198755200000.0), Message("-000001-01-01T00:00:00.000Z"));
  EXPECT_SAME(date(253402300800000.0), Message("+010000-01-01T00:00:00.000Z"));
  EXPECT_SAME(date(951782400000.5), Message("2000-02-29T00:00:00.000Z"));
  EXPECT_SAME(date(-8.64e15), Message("-271821-04-20T00:00:00.000Z"));
  EXPECT_SAME(date(8.64e15 + 1), Message());
  EXPECT_SAME(date(std::numeric_limits<double>::infinity()), Message());
}

// Verifies errors: unknown fields are refused; a cause of undefined is left out.
TEST(V8Codec, Errors) {
  EXPECT_SAME(decode_payload("ff0f72542e"), Message::parse(R"({"name":"TypeError"})"));
  EXPECT_SAME(decode_payload("ff0f72635f2e"), Message::parse(R"({"name":"Error"})"));
  expect_bad("ff0f72782e", "Error field");
  expect_bad("ff0f72", "Error field");
}

// Verifies that every truncation of a valid payload, stray bytes after the value and a length
// prefix that lies either way are bad messages, never a crash or a wrong value.
TEST(V8Codec, TruncatedAndLyingFrames) {
  const std::vector<std::string> payloads = {
      "ff0f6f2201616f2201626f220163410249026f2201642201657b012400027b017b01220166307b02",
      "ff0f41056e000000000000f83f7363047300ac2078797a100500000000000000240005",
      "ff0f6f22036d696e5a11000000000000008022036d61785a10ffffffffffffffff7b02",
      "ff0f72526d22017263490a732201732e",
      "ff0f41036f22017849027b015e016f22016f5e017b01240003",
      "ff0f3b220161490249042201623a04",
      "ff0f61034900490249044906400203",
      "ff0f4102 420109 5e01 5642 00 01 00 240002",
      "ff0f6f22026162006302ac207b01",
      "ff0f5c000a03010203",
  };
  for (const auto& p : payloads) {
    const std::string full = unhex(p);
    ASSERT_TRUE(decode(frame(p)).ok) << p;
    for (std::size_t k = 0; k < full.size(); ++k) {
      expect_bad(hex(full.substr(0, k)));
    }
    expect_bad(hex(full) + "30", "stray bytes");
    // A prefix one byte short: the value runs past the frame; the leftover byte then starts
    // a frame that never completes.
    std::string shorter = frame(p);
    shorter[3] = static_cast<char>(shorter[3] - 1);
    Decoded d = decode(shorter);
    EXPECT_FALSE(d.ok);
    EXPECT_EQ(d.err.code, make_error_code(errc::bad_message)) << p;
    // A prefix one byte long: the frame waits for its last byte.
    std::string longer = frame(p);
    longer[3] = static_cast<char>(longer[3] + 1);
    auto codec = make_v8_codec(big_limit);
    DecodeError err;
    EXPECT_TRUE(codec->feed(longer, [](Message&&) { ADD_FAILURE(); }, err));
    EXPECT_TRUE(codec->buffering());
  }
}

// Verifies that absurd declared sizes fail without allocating what they claim.
TEST(V8Codec, AbsurdSizes) {
  expect_bad("ff0f22808080808020", "over-long varint");           // string of 2^40 bytes
  expect_bad("ff0f22ffffffff0f61", "declares 4294967295 bytes");  // string of 2^32 - 1
  expect_bad("ff0f63feffffff0f", "declares");
  expect_bad("ff0f418080808008", "dense array of length 2147483648");
  expect_bad("ff0f618080808008408080808008", "units");            // sparse, 2^31 holes
  expect_bad("ff0f61ffffffff0f40ffffffff0f", "units");
  expect_bad("ff0f42ffffffff0f", "declares");
  expect_bad("ff0f7effffffff0fffffffff0f", "declares");
  expect_bad("ff0f7e0201", "maximum");
  expect_bad("ff0f5c000affffffff0f", "declares");
  // A modest sparse array is fine: holes read as null.
  Message holes = decode_payload("ff0f61e807 40 00 e807");
  EXPECT_EQ(holes.size(), 1000u);
  EXPECT_TRUE(holes[999].is_null());
}

// Verifies structural lies: counts, lengths and elements that do not add up.
TEST(V8Codec, StructuralLies) {
  expect_bad("ff0f6f7b01", "property count");
  expect_bad("ff0f4101 4902 240002", "but it began 1");
  expect_bad("ff0f4101 4902 240101", "property count");
  expect_bad("ff0f6102 4904 4902 400102", "beyond the declared length");
  expect_bad("ff0f6f2201614902", "frame ends inside");
  expect_bad("ff0f49ffffffffff", "over-long varint");
  expect_bad("ff0f7b00", "unknown V8 tag 0x7b '{' at offset 2");
  expect_bad("ff0f4b", "unknown V8 tag 0x4b 'K' at offset 2");
  expect_bad("ff0fff0f30", "unknown V8 tag 0xff");
  expect_bad("ff0f2d", "unknown V8 tag 0x2d");  // the hole outside a dense array
  expect_bad("ff0f7501", "SharedArrayBuffer");
  expect_bad("ff0f52220161ff03", "RegExp flags");
  // A dense array's elements may be holes, and its index properties fill them.
  EXPECT_SAME(decode_payload("ff0f41022d4902 4900 4906 240102"), Message::parse("[3,1]"));
}

// Verifies nesting is bounded: depth 1000 is refused, 900 is read.
TEST(V8Codec, DepthLimit) {
  auto nested = [](int n) {
    std::string p = "ff0f";
    for (int i = 0; i < n; ++i) p += "4101";
    p += "30";
    for (int i = 0; i < n; ++i) p += "240001";
    return p;
  };
  EXPECT_TRUE(decode(frame(nested(900))).ok);
  expect_bad(nested(1000), "nested deeper than 1000");
  expect_bad(nested(100000), "nested deeper than 1000");
}

// Verifies back-references: shared objects are copied, circular ones are unsupported, unknown
// ids are bad, and an exponential DAG hits the expansion limit instead of memory.
TEST(V8Codec, BackReferences) {
  EXPECT_SAME(decode_payload("ff0f41036f22017849027b015e016f22016f5e017b01240003"),
              Message::parse(R"([{"x":1},{"x":1},{"o":{"x":1}}])"));
  expect_bad("ff0f4102 6f7b00 5e05 240002", "does not exist");
  expect_bad("ff0f4101 5e00 240001", "circular", errc::unsupported_value);
  expect_bad("ff0f6f2201615e007b01", "circular", errc::unsupported_value);
  // L0 = {}, Lk = [L(k-1), ^L(k-1)]: 2^40 leaves from a few hundred bytes.
  const int levels = 40;
  std::string p = "6f7b00";
  for (int k = 1; k <= levels; ++k) {
    char id[8];
    std::snprintf(id, sizeof id, "%02x", levels - k + 1);
    p = "4102" + p + "5e" + id + "240002";
  }
  expect_bad("ff0f" + p, "units");
  // A small DAG is fine.
  std::string q = "6f7b00";
  for (int k = 1; k <= 5; ++k) {
    char id[8];
    std::snprintf(id, sizeof id, "%02x", 5 - k + 1);
    q = "4102" + q + "5e" + id + "240002";
  }
  Message m = decode_payload("ff0f" + q);
  EXPECT_EQ(m.flatten().size(), 32u);
}

}  // namespace
}  // namespace cluster::ipc
