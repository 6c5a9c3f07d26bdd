// serialization: 'advanced' end to end (issue 4): every value kind a Message holds makes the
// round trip C++ primary -> worker -> C++ primary with a C++ worker and with an unmodified node 20
// worker, a node 20 primary's values come back from a C++ worker as docs/serialization.md says,
// and hostile V8 frames from a worker give an error on that worker only. Ports the idea of Node's
// test-child-process-advanced-serialization.js and -advanced-serialization-largebuffer.js.
#include "support/test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

using namespace cluster;
using namespace testing_support;

namespace {

// A frame: the 4-byte big-endian length, then the payload.
std::string frame(const std::string& payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string f = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                   static_cast<char>(n)};
  return f + payload;
}

// A payload: node's header FF 0F, then the given value bytes.
std::string payload(const std::string& value) { return std::string("\xFF\x0F", 2) + value; }

}  // namespace

// Echoes every message; "adv bye" makes it disconnect.
WORKER_ROLE(adv_echo) {
  worker().on(ev::message, [](const Message& m) {
    if (m == "adv bye") {
      worker().disconnect();
      return;
    }
    worker().send(m);
  });
}

// Sends four 8 MiB binaries filled with 0, 1, 2, 3 back to back, then disconnects.
WORKER_ROLE(adv_send_four_8mib) {
  for (int i = 0; i < 4; ++i) {
    worker().send(Message::binary(std::vector<std::uint8_t>(std::size_t{8} << 20, static_cast<std::uint8_t>(i))));
  }
  worker().disconnect();
}

// Writes one kind of hostile 'advanced' input (RAW_KIND) on the channel.
WORKER_ROLE(adv_raw_writer) {
  const char* what = std::getenv("RAW_KIND");
  const std::string kind = what ? what : "";
  // The length says 5 bytes; the string inside them claims 10.
  if (kind == "lying_length_short") write_raw(frame(payload("\"\x0a" "a")) + "\xde\xad\xbe\xef");
  // The length says 12 bytes; the value ('T') ends after 3 of them.
  if (kind == "lying_length_long") write_raw(frame(payload("T") + "garbage!!"));
  if (kind == "unknown_tag") write_raw(frame(payload("K")));
  if (kind == "future_version") write_raw(frame(std::string("\xFF\x10T", 3)));
  if (kind == "absurd_frame") write_raw(std::string("\x7f\xff\xff\xff", 4) + std::string(64, 'x'));
  // Sizes declared inside a small frame: a 2 GiB string, dense array and sparse array.
  if (kind == "absurd_string") write_raw(frame(payload("\"\xff\xff\xff\xff\x07")));
  if (kind == "absurd_dense_array") write_raw(frame(payload("A\xff\xff\xff\xff\x07")));
  if (kind == "absurd_sparse_array") {
    write_raw(frame(payload(std::string("a\xff\xff\xff\xff\x07@\x00\xff\xff\xff\xff\x07", 13))));
  }
  if (kind == "too_deep") {
    std::string v;
    for (int i = 0; i < 1100; ++i) v += "A\x01";
    v += '0';
    for (int i = 0; i < 1100; ++i) v += std::string("$\x00\x01", 3);
    write_raw(frame(payload(v)));
  }
  // {a: <itself>}: JSON cannot hold it.
  if (kind == "circular") write_raw(frame(payload(std::string("o\"\x01" "a^\x00{\x01", 8))));
  // A 9-byte BigInt, wider than 64 bits.
  if (kind == "wide_bigint") write_raw(frame(payload(std::string("Z\x12\0\0\0\0\0\0\0\0\x01", 11))));
  if (kind == "truncated_then_eof") {
    // 10 of the 100 bytes the length promises, then the channel ends with the process.
    write_raw(std::string("\0\0\0\x64\xFF\x0Fo\"\x01" "a\"\x05" "ab", 14));
    _exit(0);
  }
  // Otherwise the primary closes the channel it cannot read, and the worker exits 0.
}

namespace {

constexpr std::int64_t two53 = std::int64_t{1} << 53;

// Whether a and b are the same value with the same number kind (integer or double), NaN equal
// to NaN and -0 to -0 only; object keys must come in the same order.
::testing::AssertionResult same(const Message& a, const Message& b, const std::string& path = "$") {
  auto show = [](const Message& m) {
    return m.dump(-1, ' ', false, Message::error_handler_t::replace).substr(0, 300);
  };
  auto fail = [&](const std::string& why) {
    return ::testing::AssertionFailure() << path << ": " << why << "\n  got:      " << show(a)
                                         << "\n  expected: " << show(b);
  };
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() != b.is_number_float()) return fail("integer/double kind differs");
    if (a.is_number_float()) {
      const double x = a.get<double>(), y = b.get<double>();
      if (std::isnan(x) && std::isnan(y)) return ::testing::AssertionSuccess();
      if (x != y || std::signbit(x) != std::signbit(y)) return fail("doubles differ");
      return ::testing::AssertionSuccess();
    }
    return a == b ? ::testing::AssertionSuccess() : fail("integers differ");
  }
  if (a.type() != b.type()) return fail("types differ");
  if (a.is_array()) {
    if (a.size() != b.size()) return fail("array sizes differ");
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (auto r = same(a[i], b[i], path + "[" + std::to_string(i) + "]"); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return fail("object sizes differ");
    auto i = a.items().begin();
    auto j = b.items().begin();
    for (; i != a.items().end(); ++i, ++j) {
      if (i.key() != j.key()) return fail("keys differ or come in another order: " + i.key() + " vs " + j.key());
      if (auto r = same(i.value(), j.value(), path + "." + i.key()); !r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  return a == b ? ::testing::AssertionSuccess() : fail("values differ");
}

// One value sent, the value that comes back (the documented approximation), and for numbers
// the text node's String(v) gives for what it received ("-0" for -0).
struct Case {
  std::string name;
  Message sent;
  Message expected;
  std::string js;
};

Message nested_arrays(int depth) {
  Message m = "bottom";
  for (int i = 0; i < depth; ++i) m = Message::array({std::move(m)});
  return m;
}

Message nested_objects(int depth) {
  Message m = Message::object();
  for (int i = 0; i < depth; ++i) m = Message::object({{"d" + std::to_string(i), std::move(m)}});
  return m;
}

// Deterministic pseudo-random bytes (xorshift), so sender and checker agree without a copy.
std::vector<std::uint8_t> pattern_bytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::uint8_t> v(n);
  std::uint64_t x = seed;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return v;
}

// FNV-1a, 32 bits (node_echo_worker.js computes the same).
std::uint32_t fnv1a(const std::vector<std::uint8_t>& v) {
  std::uint32_t h = 2166136261u;
  for (std::uint8_t b : v) {
    h ^= b;
    h *= 16777619u;
  }
  return h;
}

// The length of s in UTF-16 code units, as JS counts it.
std::size_t utf16_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

std::vector<Case> value_cases(std::size_t binary_size) {
  std::vector<Case> c;
  auto add = [&c](std::string name, Message sent, Message expected = {}, std::string js = "") {
    Message e = expected.is_null() && !sent.is_null() ? sent : expected;
    c.push_back({std::move(name), std::move(sent), std::move(e), std::move(js)});
  };
  constexpr auto i32max = std::numeric_limits<std::int32_t>::max();
  constexpr auto i32min = std::numeric_limits<std::int32_t>::min();
  constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
  constexpr auto i64min = std::numeric_limits<std::int64_t>::min();
  constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();
  const double inf = std::numeric_limits<double>::infinity();

  add("null", nullptr);
  add("true", true);
  add("false", false);
  // int32 edges: Smis ('I'); one past them are doubles ('N') that come back as integers.
  add("zero", 0, {}, "0");
  add("minus one", -1, {}, "-1");
  add("int32 max", i32max, {}, "2147483647");
  add("int32 min", i32min, {}, "-2147483648");
  add("int32 max + 1", std::int64_t{i32max} + 1, {}, "2147483648");
  add("int32 min - 1", std::int64_t{i32min} - 1, {}, "-2147483649");
  add("uint32 max (unsigned)", std::uint64_t{4294967295u}, std::int64_t{4294967295}, "4294967295");
  // Integers are JS numbers: exact to 2^53, rounded to the nearest double past it, and past 2^53
  // a double comes back as a double.
  add("2^53", two53, {}, "9007199254740992");
  add("-2^53", -two53, {}, "-9007199254740992");
  add("2^53 + 1 rounds to 2^53", two53 + 1, two53, "9007199254740992");
  add("2^53 + 2 arrives as a double", two53 + 2, 9007199254740994.0, "9007199254740994");
  add("int64 max arrives as 2^63", i64max, 9223372036854775808.0, "9223372036854776000");
  add("int64 min arrives as -2^63", i64min, -9223372036854775808.0, "-9223372036854776000");
  add("uint64 max arrives as 2^64", u64max, 18446744073709551616.0, "18446744073709552000");
  // Doubles: integral ones within 2^53 come back as integers (1.0 is the JS number 1).
  add("one half", 0.5, {}, "0.5");
  add("0.1", 0.1, {}, "0.1");
  add("-1.25", -1.25, {}, "-1.25");
  add("1.0 arrives as integer 1", 1.0, 1, "1");
  add("2^40 as double arrives as integer", 1099511627776.0, std::int64_t{1099511627776}, "1099511627776");
  add("1e20", 1e20, {}, "100000000000000000000");
  add("double max", std::numeric_limits<double>::max(), {}, "1.7976931348623157e+308");
  add("smallest denormal", std::numeric_limits<double>::denorm_min(), {}, "5e-324");
  add("minus zero", -0.0, {}, "-0");
  add("NaN", std::numeric_limits<double>::quiet_NaN(), {}, "NaN");
  add("infinity", inf, {}, "Infinity");
  add("minus infinity", -inf, {}, "-Infinity");
  // Strings: one-byte ('"', Latin-1), two-byte ('c', UTF-16, with V8's padding), astral pairs.
  add("empty string", "");
  add("ascii string", "plain ascii text");
  add("latin-1 string", "caf\u00e9 \u00ff \u00a0 \u00d7");
  add("first two-byte char", "\u0100");
  add("two-byte string", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8");
  add("astral string", "\U0001F600 \U0001D11E astral");
  add("mixed string", "a \u00e9 \u65e5 \U0001F600 z");
  add("string with NUL", std::string("a\0b", 3));
  add("line separators", "line\nbreak \u2028 \u2029");
  add("long one-byte string", std::string(100000, 'x') + "\u00e9");
  {
    std::string s;
    for (int i = 0; i < 50000; ++i) s += "\u65e5\U0001F600";
    add("long two-byte string", s);
  }
  // Containers.
  add("empty array", Message::array());
  add("empty object", Message::object());
  add("array of empties", Message::array({Message::array(), Message::object(), ""}));
  add("mixed array", Message::array({1, "x", nullptr, true, 2.5, Message::object({{"k", Message::array()}})}));
  add("numbers with a double", Message::array({1, 2.5, -3}));
  add("object", Message::object({{"hello", "w\u00f6rld"}, {"n", 1}, {"nested", {{"deep", {{"ok", true}}}}}}));
  // A JS object lists array-index keys first, ascending; "01" is not an index.
  add("index keys reordered", Message::object({{"b", 1}, {"1", 2}, {"0", 3}, {"10", 4}, {"01", 5}}),
      Message::object({{"0", 3}, {"1", 2}, {"10", 4}, {"b", 1}, {"01", 5}}));
  add("nested arrays 200 deep", nested_arrays(200));
  add("nested objects 200 deep", nested_objects(200));
  // Binary: a Node Buffer; the subtype does not travel.
  add("empty binary", Message::binary({}));
  {
    std::vector<std::uint8_t> all(256);
    for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
    add("every byte", Message::binary(all));
    add("binary subtype is dropped", Message::binary(all, 42), Message::binary(all));
    add("binary in containers", Message::object({{"buf", Message::binary(all)}, {"list", {Message::binary({1, 2})}}}));
  }
  add("binary payload", Message::binary(pattern_bytes(binary_size, 7)));
  return c;
}

// What node_echo_worker.js reports for a value it received.
Message node_view(const Case& c) {
  const Message& v = c.expected;
  if (v.is_null()) return {{"kind", "null"}};
  if (v.is_boolean()) return {{"kind", "boolean"}};
  if (v.is_number()) return {{"kind", "number"}, {"text", c.js}};
  if (v.is_string()) return {{"kind", "string"}, {"length", utf16_length(v.get<std::string>())}};
  if (v.is_binary()) return {{"kind", "Buffer"}, {"length", v.get_binary().size()}, {"fnv", fnv1a(v.get_binary())}};
  if (v.is_array()) return {{"kind", "Array"}, {"length", v.size()}};
  Message keys = Message::array();
  for (auto& [k, x] : v.items()) keys.push_back(k);
  return {{"kind", "object"}, {"keys", keys}};
}

// Sends every case to w, one at a time; with node, each echo is followed by node's view of it.
void run_cases(const std::shared_ptr<Worker>& w, const std::vector<Case>& cases, bool node) {
  std::size_t next = 0;
  std::size_t checked = 0;
  bool want_view = false;
  MustCall exits(1, "worker exit");
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << "worker error: " << e.what(); });
  w->on(ev::message, [&](const Message& m) {
    ASSERT_LT(next, cases.size());
    const Case& c = cases[next];
    if (want_view) {
      want_view = false;
      EXPECT_TRUE(same(m, Message::object({{"seen", node_view(c)}}))) << c.name;
    } else {
      EXPECT_TRUE(same(m, c.expected)) << c.name;
      ++checked;
      want_view = node;
    }
    if (want_view) return;
    if (++next < cases.size()) {
      w->send(cases[next].sent);  // false past 128 KiB queued (backpressure), still sent
    } else {
      w->send("adv bye");
    }
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  w->send(cases[0].sent);
  run_loop();
  EXPECT_EQ(checked, cases.size());
}

// Sends one 16 MiB binary and checks the echo's size and checksum.
void run_sixteen_mebibytes(const std::shared_ptr<Worker>& w, bool node) {
  const std::size_t size = std::size_t{16} << 20;
  const Message blob = Message::binary(pattern_bytes(size, 16));
  const std::uint32_t sum = fnv1a(blob.get_binary());
  MustCall echoes(1, "16 MiB echo");
  MustCall exits(1, "worker exit");
  bool want_view = false;
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << "worker error: " << e.what(); });
  w->on(ev::message, [&](const Message& m) {
    if (want_view) {
      EXPECT_EQ(m["seen"], Message({{"kind", "Buffer"}, {"length", size}, {"fnv", sum}}));
      w->send("adv bye");
      return;
    }
    echoes();
    ASSERT_TRUE(m.is_binary());
    EXPECT_EQ(m.get_binary().size(), size);
    EXPECT_EQ(fnv1a(m.get_binary()), sum);
    EXPECT_FALSE(m.get_binary().has_subtype());
    want_view = node;
    if (!node) w->send("adv bye");
  });
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  w->send(blob);
  run_loop();
}

// Verifies every value kind a Message holds comes back from a C++ worker under 'advanced' as
// docs/serialization.md says: equal, or its documented approximation (integers past 2^53).
TEST(AdvancedSerialization, CppWorkerEchoesEveryValueKind) {
  setup_primary({.serialization = Serialization::advanced});
  run_cases(fork_role("adv_echo"), value_cases(std::size_t{1} << 20), false);
}

// Verifies a 16 MiB Buffer makes the round trip through a C++ worker intact under the default
// 64 MiB frame limit (Node's test-child-process-advanced-serialization-largebuffer.js).
TEST(AdvancedSerialization, CppWorkerEchoesSixteenMebibyteBinary) {
  setup_primary({.serialization = Serialization::advanced});
  ASSERT_EQ(settings().max_frame_bytes.value_or(default_max_frame_bytes), default_max_frame_bytes)
      << "an earlier test in this process changed the limit; run this test on its own";
  static_assert(default_max_frame_bytes == std::size_t{64} << 20);
  run_sixteen_mebibytes(fork_role("adv_echo"), false);
}

// Verifies large frames a worker writes back to back arrive whole and in order, however the
// reads split them (Node's test-child-process-advanced-serialization-largebuffer.js).
TEST(AdvancedSerialization, BackToBackLargeFramesFromWorker) {
  setup_primary({.serialization = Serialization::advanced});
  auto w = fork_role("adv_send_four_8mib");
  std::vector<int> received;
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << e.what(); });
  w->on(ev::message, [&](const Message& m) {
    ASSERT_TRUE(m.is_binary());
    const auto& b = m.get_binary();
    ASSERT_EQ(b.size(), std::size_t{8} << 20);
    EXPECT_EQ(std::count(b.begin(), b.end(), b[0]), static_cast<std::ptrdiff_t>(b.size()));
    received.push_back(b[0]);
  });
  MustCall exits(1, "worker exit");
  w->on(ev::exit, [&](int code) {
    exits();
    EXPECT_EQ(code, 0);
  });
  run_loop();
  EXPECT_EQ(received, (std::vector<int>{0, 1, 2, 3}));
}

// Verifies node 20 reads every value kind our encoder writes as the JS value we mean (a Buffer, a
// number with the precision JS gives it, a string of the right UTF-16 length, keys in JS order),
// and that what node writes back decodes to the same Message.
TEST(AdvancedSerialization, NodeWorkerEchoesEveryValueKind) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_echo_worker.js", .args = {},
                 .serialization = Serialization::advanced});
  run_cases(cluster::fork(), value_cases(std::size_t{1} << 20), true);
}

// Verifies a 16 MiB Buffer makes the round trip through a node 20 worker intact.
TEST(AdvancedSerialization, NodeWorkerEchoesSixteenMebibyteBinary) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  setup_primary({.exec_path = "node", .exec = tests_dir() + "/interop/node_echo_worker.js", .args = {},
                 .serialization = Serialization::advanced});
  run_sixteen_mebibytes(cluster::fork(), true);
}

// Verifies a node 20 primary's values (Buffer, typed arrays, Map, Set, Date, undefined, BigInt,
// boxed primitives, Errors, shared references, nested mixes) come back from a C++ worker as
// the approximations docs/serialization.md lists (checked by node_advanced_primary.js).
TEST(AdvancedSerialization, NodePrimaryGetsDocumentedApproximationsFromCppWorker) {
  if (!have_node()) GTEST_SKIP() << "node is not on PATH";
  const std::string cmd = "timeout 60 node " + tests_dir() + "/interop/node_advanced_primary.js " + self_exe();
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0);
}

// Verifies NODE_-prefixed messages stay internal under 'advanced' as under 'json' (Node's
// isInternal): never delivered to 'message', while {cmd: "NODE_"} is user data.
TEST(AdvancedSerialization, InternalLookalikesAreNotDelivered) {
  setup_primary({.serialization = Serialization::advanced});
  auto w = fork_role("adv_echo");
  std::vector<Message> got;
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << e.what(); });
  w->on(ev::message, [&](const Message& m) {
    got.push_back(m);
    if (m == "last") w->send("adv bye");
  });
  w->send({{"cmd", "NODE_X"}, {"buf", Message::binary({1, 2, 3})}});
  w->send({{"cmd", "NODE_"}, {"buf", Message::binary({4})}});
  w->send("last");
  run_loop();
  EXPECT_EQ(got, (std::vector<Message>{{{"cmd", "NODE_"}, {"buf", Message::binary({4})}}, "last"}));
}

// Verifies a Message the V8 format cannot carry (a string that is not UTF-8) is refused with
// errc::unsupported_value in send()'s callback, and the channel keeps working.
TEST(AdvancedSerialization, UnencodableMessageIsRefusedChannelStaysUp) {
  setup_primary({.serialization = Serialization::advanced});
  auto w = fork_role("adv_echo");
  MustCall refused(1, "send callback with unsupported_value");
  std::vector<Message> got;
  w->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << e.what(); });
  w->on(ev::message, [&](const Message& m) {
    got.push_back(m);
    w->send("adv bye");
  });
  w->send(Message::object({{"bad", "\xC3\x28"}}), {}, {}, [&](std::error_code ec) {
    refused();
    EXPECT_EQ(ec, make_error_code(errc::unsupported_value));
  });
  w->send("after");
  run_loop();
  EXPECT_EQ(got, std::vector<Message>{"after"});
}

// Verifies the same message sent without a callback is reported as an error event on the worker
// (the library's rule for async failures without a callback; Node throws from send()), and
// nothing is written.
TEST(AdvancedSerialization, UnencodableMessageWithoutCallbackIsAnErrorEvent) {
  setup_primary({.serialization = Serialization::advanced});
  auto w = fork_role("adv_echo");
  MustCall errors(1, "error event with unsupported_value");
  std::vector<Message> got;
  w->on(ev::error, [&](const std::system_error& e) {
    errors();
    EXPECT_EQ(e.code(), make_error_code(errc::unsupported_value)) << e.what();
  });
  w->on(ev::message, [&](const Message& m) {
    got.push_back(m);
    w->send("adv bye");
  });
  w->send(Message::object({{"bad", "\xC3\x28"}}));
  w->send("after");
  run_loop();
  EXPECT_EQ(got, std::vector<Message>{"after"});
}

struct BadCase {
  const char* kind;
  errc expected;
};

// Names the case in gtest's output.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.kind; }

class AdvancedBadInput : public ::testing::TestWithParam<BadCase> {};

// Verifies each kind of hostile V8 frame from a worker is an error event on that worker with the
// right code (never a crash or an allocation of the declared size), its channel is closed, and
// a second worker keeps exchanging messages afterwards.
TEST_P(AdvancedBadInput, ErrorOnThatWorkerOthersKeepServing) {
  const BadCase c = GetParam();
  setup_primary({.serialization = Serialization::advanced, .max_frame_bytes = std::size_t{1} << 20});
  auto good = fork_role("adv_echo");
  auto bad = fork_role("adv_raw_writer", {{"RAW_KIND", c.kind}});
  MustCall errors(1, "error event");
  MustCall disconnects(1, "bad worker disconnect");
  MustCall echoes(1, "echo from the good worker after the bad one left");
  good->on(ev::message, [&](const Message& m) {
    echoes();
    EXPECT_TRUE(same(m, Message::object({{"ping", Message::binary({1, 2, 3})}})));
    good->send("adv bye");
  });
  good->on(ev::error, [](const std::system_error& e) { ADD_FAILURE() << "good worker: " << e.what(); });
  bad->on(ev::error, [&](const std::system_error& e) {
    errors();
    EXPECT_EQ(e.code(), make_error_code(c.expected)) << e.what();
  });
  bad->on(ev::message, [&](const Message& m) { ADD_FAILURE() << "unexpected message " << m.dump(); });
  bad->on(ev::disconnect, [&] { disconnects(); });
  bad->on(ev::exit, [&](int code) {
    EXPECT_EQ(code, 0);
    // The primary is still up and the good worker still answers.
    good->send({{"ping", Message::binary({1, 2, 3})}});
  });
  good->on(ev::exit, [&](int code) { EXPECT_EQ(code, 0); });
  run_loop();
}

INSTANTIATE_TEST_SUITE_P(Frames, AdvancedBadInput,
                         ::testing::Values(BadCase{"lying_length_short", errc::bad_message},
                                           BadCase{"lying_length_long", errc::bad_message},
                                           BadCase{"unknown_tag", errc::bad_message},
                                           BadCase{"future_version", errc::bad_message},
                                           BadCase{"absurd_frame", errc::frame_too_large},
                                           BadCase{"absurd_string", errc::bad_message},
                                           BadCase{"absurd_dense_array", errc::bad_message},
                                           BadCase{"absurd_sparse_array", errc::bad_message},
                                           BadCase{"too_deep", errc::bad_message},
                                           BadCase{"circular", errc::unsupported_value},
                                           BadCase{"wide_bigint", errc::unsupported_value}),
                         [](const auto& info) { return std::string(info.param.kind); });

// Verifies a worker that dies in the middle of a frame costs the primary nothing: the worker
// disconnects and exits, and another worker keeps exchanging messages.
TEST(AdvancedSerialization, TruncatedFrameThenEndOfStreamIsSurvived) {
  setup_primary({.serialization = Serialization::advanced});
  auto good = fork_role("adv_echo");
  auto bad = fork_role("adv_raw_writer", {{"RAW_KIND", "truncated_then_eof"}});
  MustCall disconnects(1, "bad worker disconnect");
  MustCall echoes(1, "echo from the good worker");
  good->on(ev::message, [&](const Message& m) {
    echoes();
    EXPECT_EQ(m, "ping");
    good->send("adv bye");
  });
  bad->on(ev::message, [&](const Message& m) { ADD_FAILURE() << "unexpected message " << m.dump(); });
  bad->on(ev::disconnect, [&] { disconnects(); });
  bad->on(ev::exit, [&](int code) {
    EXPECT_EQ(code, 0);
    good->send("ping");
  });
  run_loop();
}

// Verifies the data lost when a worker's channel ends inside a frame is reported: an error event
// (errc::bad_message) on that worker before its disconnect. Node itself drops the partial frame
// silently (lib/internal/child_process.js channel.onread at EOF).
TEST(AdvancedSerialization, TruncatedFrameThenEndOfStreamIsAnError) {
  setup_primary({.serialization = Serialization::advanced});
  auto bad = fork_role("adv_raw_writer", {{"RAW_KIND", "truncated_then_eof"}});
  std::vector<std::string> order;
  bad->on(ev::error, [&](const std::system_error& e) {
    order.push_back("error");
    EXPECT_EQ(e.code(), make_error_code(errc::bad_message)) << e.what();
  });
  bad->on(ev::disconnect, [&] { order.push_back("disconnect"); });
  run_loop();
  EXPECT_EQ(order, (std::vector<std::string>{"error", "disconnect"}));
}

}  // namespace
