// Untrusted input from a worker: garbage, oversized frames, invalid JSON, unknown acts. Each
// gives an error on that worker only; the primary keeps serving the others.
#include "support/test_support.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

using namespace cluster;
using namespace testing_support;

WORKER_ROLE(raw_writer) {
  const char* what = std::getenv("RAW_KIND");
  std::string kind = what ? what : "";
  if (kind == "garbage") write_raw(std::string("\x00\xff\xfe garbage\n", 13));
  if (kind == "invalid_json") write_raw("{\"a\":}\n");
  if (kind == "empty_line") write_raw("\n");
  if (kind == "too_long") write_raw(std::string(64 * 1024, 'a'));
  if (kind == "bad_utf8") write_raw("\"\xc3\x28\"\n");
  if (kind == "unknown_act") {
    write_raw("{\"cmd\":\"NODE_CLUSTER\",\"act\":\"bogus\",\"seq\":99}\n");
    worker().send("still here");
  }
  if (kind == "odd_types") {
    // Well-formed frames whose optional fields have unexpected types: ignored, never a crash.
    write_raw("{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"pipelinedHandles\":\"yes\",\"seq\":98}\n");
    write_raw("{\"cmd\":\"NODE_CLUSTER\",\"act\":\"queryServer\",\"address\":\"127.0.0.1\",\"port\":0,"
              "\"addressType\":4,\"fd\":-1,\"index\":0,\"readableAll\":\"x\",\"writableAll\":[1],"
              "\"data\":null,\"seq\":97}\n");
    worker().send("still here");
    worker().disconnect();
  }
  // The primary closes a channel it cannot read; the worker then exits 0 (no disconnect() asked).
}

WORKER_ROLE(echo_forever) {
  worker().on(ev::message, [](const Message& m) { worker().send(m); });
}

namespace {

struct Case {
  const char* kind;
  errc expected;
  bool closes;
};

class BadInput : public ::testing::TestWithParam<Case> {};

// Verifies each kind of bad input is an error event on the sending worker with the right code,
// the channel is closed for garbage but kept for a well-formed unknown act, and a second worker
// keeps exchanging messages afterwards.
TEST_P(BadInput, ErrorOnThatWorkerOthersKeepServing) {
  const Case c = GetParam();
  setup_primary({.max_frame_bytes = 4096});
  auto good = fork_role("echo_forever");
  auto bad = fork_role("raw_writer", {{"RAW_KIND", c.kind}});
  MustCall errors(1, "error event");
  int echoes = 0;
  bool bad_done = false;
  auto maybe_finish = [&] {
    if (bad_done && echoes >= 1) good->disconnect();
  };
  good->on(ev::message, [&](const Message& m) {
    EXPECT_EQ(m, "ping");
    ++echoes;
    maybe_finish();
  });
  bad->on(ev::error, [&](const std::system_error& e) {
    errors();
    EXPECT_EQ(e.code(), make_error_code(c.expected)) << e.what();
    if (!c.closes) {
      EXPECT_TRUE(bad->is_connected());
    }
  });
  bad->on(ev::message, [&](const Message& m) {
    EXPECT_FALSE(c.closes);
    EXPECT_EQ(m, "still here");
    bad->disconnect();
  });
  bad->on(ev::exit, [&](int code) {
    EXPECT_EQ(code, 0);
    bad_done = true;
    // The primary is still up and the good worker still answers.
    good->send("ping");
  });
  good->on(ev::exit, [&](int code) { EXPECT_EQ(code, 0); });
  run_loop();
  EXPECT_GE(echoes, 1);
}

INSTANTIATE_TEST_SUITE_P(Frames, BadInput,
                         ::testing::Values(Case{"garbage", errc::bad_message, true},
                                           Case{"invalid_json", errc::bad_message, true},
                                           Case{"empty_line", errc::bad_message, true},
                                           Case{"bad_utf8", errc::bad_message, true},
                                           Case{"too_long", errc::frame_too_large, true},
                                           Case{"unknown_act", errc::unknown_act, false}),
                         [](const auto& info) { return std::string(info.param.kind); });

// Verifies that optional fields of unexpected types (a string pipelinedHandles in online, a string
// readableAll and an array writableAll in queryServer) are ignored: no error, no crash, the worker
// is answered and keeps talking.
TEST(BadInputTypes, OddlyTypedOptionalFieldsAreIgnored) {
  int errors = 0, heard = 0, code = -1;
  auto w = fork_role("raw_writer", {{"RAW_KIND", "odd_types"}});
  w->on(ev::error, [&](const std::system_error& e) {
    ++errors;
    ADD_FAILURE() << e.what();
  });
  w->on(ev::message, [&](const Message& m) { heard += m == "still here"; });
  w->on(ev::exit, [&](int c, std::string_view) { code = c; });
  run_loop();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(heard, 1);
  EXPECT_EQ(code, 0);
}

}  // namespace
