// The 'json' codec: JSON.stringify-identical output and Node's line framing on input.
#include "ipc/json_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using cluster::Message;
using namespace cluster::ipc;

namespace {

std::string stringify(const Message& m) {
  std::string out;
  write_json(m, out);
  return out;
}

// Verifies numbers are written as JSON.stringify writes them (outputs taken from node 20).
TEST(JsonCodec, NumbersMatchJsonStringify) {
  const std::vector<std::pair<double, const char*>> cases = {
      {1.0, "1"},           {0.1, "0.1"},        {1e21, "1e+21"},
      {1.5e-7, "1.5e-7"},   {123456789012345680000.0, "123456789012345680000"},
      {-0.0, "0"},          {1.0 / 3, "0.3333333333333333"},
      {5e-324, "5e-324"},   {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.000001, "0.000001"}, {1e-7, "1e-7"},    {100.0, "100"},
      {2.5e20, "250000000000000000000"}, {-1.25, "-1.25"},
  };
  for (const auto& [v, want] : cases) EXPECT_EQ(stringify(v), want) << v;
  EXPECT_EQ(stringify(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(stringify(std::numeric_limits<double>::infinity()), "null");
}

// Verifies string escaping matches JSON.stringify: control characters escaped, U+2028 raw.
TEST(JsonCodec, StringsMatchJsonStringify) {
  Message m = {{"s", "\x01\x1f\b\f\n\r\t\"\\/\xc3\xa9\xe2\x80\xa8"}};
  EXPECT_EQ(stringify(m), "{\"s\":\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\xc3\xa9\xe2\x80\xa8\"}");
}

// Verifies key order is kept and binary is written as Buffer.prototype.toJSON.
TEST(JsonCodec, KeyOrderAndBinary) {
  Message m = Message::object();
  m["cmd"] = "NODE_CLUSTER";
  m["act"] = "online";
  m["seq"] = 0;
  EXPECT_EQ(stringify(m), R"({"cmd":"NODE_CLUSTER","act":"online","seq":0})");
  EXPECT_EQ(stringify(Message::binary({1, 2, 255})), R"({"type":"Buffer","data":[1,2,255]})");
}

// Verifies frames split anywhere (even inside a UTF-8 sequence) and coalesced frames decode.
TEST(JsonCodec, SplitAndCoalescedFrames) {
  const std::string wire = "{\"a\":\"\xc3\xa9\"}\n{\"b\":2}\n\"str\"\n 42 \r\n";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    auto codec = make_json_codec(1 << 20);
    std::vector<Message> got;
    DecodeError err;
    for (std::size_t i = 0; i < wire.size(); i += step) {
      ASSERT_TRUE(codec->feed(std::string_view(wire).substr(i, step), [&](Message&& m) { got.push_back(m); }, err))
          << err.detail;
    }
    EXPECT_EQ(got, (std::vector<Message>{{{"a", "é"}}, {{"b", 2}}, "str", 42})) << "step " << step;
    EXPECT_FALSE(codec->buffering());
  }
}

// Verifies malformed input and oversized frames are errors, never exceptions.
TEST(JsonCodec, RejectsBadFrames) {
  for (std::string bad : std::vector<std::string>{"\n", "not json\n", "{\"a\":}\n", "\"\xc3\x28\"\n", std::string("\0\n", 2)}) {
    auto codec = make_json_codec(1 << 20);
    DecodeError err;
    EXPECT_FALSE(codec->feed(bad, [](Message&&) {}, err));
    EXPECT_EQ(err.code, cluster::make_error_code(cluster::errc::bad_message));
    EXPECT_FALSE(err.detail.empty());
  }
  auto codec = make_json_codec(16);
  DecodeError err;
  EXPECT_FALSE(codec->feed(std::string(17, ' '), [](Message&&) {}, err));
  EXPECT_EQ(err.code, cluster::make_error_code(cluster::errc::frame_too_large));
}

}  // namespace
