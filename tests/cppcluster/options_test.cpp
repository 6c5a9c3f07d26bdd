// Unit tests of the cppcluster command's parsers: listen addresses (the log line splitter:
// log_test.cpp).
#include "listen.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <stdexcept>
#include <string>

namespace {

using cppcluster::ListenSpec;
using cppcluster::parse_listen;

// Verifies that the address forms of --listen parse to their kind, host, port and name.
TEST(ListenAddress, ParsesEveryForm) {
  auto a = parse_listen("tcp://127.0.0.1:8000");
  EXPECT_EQ(a.kind, ListenSpec::Kind::tcp);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8000);
  EXPECT_EQ(a.name, "listen");
  auto b = parse_listen("web=tcp://[::1]:0");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 0);
  EXPECT_EQ(b.name, "web");
  auto c = parse_listen("unix:/tmp/x=y.sock");
  EXPECT_EQ(c.kind, ListenSpec::Kind::unix_stream);
  EXPECT_EQ(c.path, "/tmp/x=y.sock");
  auto d = parse_listen("admin=unix:/run/a.sock");
  EXPECT_EQ(d.name, "admin");
  EXPECT_EQ(d.path, "/run/a.sock");
  auto e = parse_listen("udp://0.0.0.0:53");
  EXPECT_EQ(e.kind, ListenSpec::Kind::udp);
}

// Verifies that each malformed address is refused with a message saying what is wrong.
TEST(ListenAddress, RefusesMalformedWithAReason) {
  struct Case { const char* arg; const char* says; };
  const Case cases[] = {
      {"127.0.0.1:80", "expected tcp://"},      {"tcp://127.0.0.1", "no port"},
      {"tcp://127.0.0.1:99999", "bad port"},    {"tcp://127.0.0.1:8x", "bad port"},
      {"tcp://::1:80", "brackets"},             {"tcp://[::1:80", "[IPV6]:PORT"},
      {"tcp://[nope]:80", "not an IPv6"},       {"unix:relative.sock", "absolute path"},
      {"a:b=tcp://127.0.0.1:1", "bad name"},    {"=tcp://127.0.0.1:1", "bad name"},
      {"http://x:1", "expected tcp://"},
  };
  for (const auto& c : cases) {
    try {
      parse_listen(c.arg);
      ADD_FAILURE() << c.arg << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << c.arg << ": " << e.what();
    }
  }
  EXPECT_THROW(parse_listen("unix:/" + std::string(200, 'x')), std::invalid_argument);
}

// Verifies that bind_all reports the kernel's port for port 0 and refuses a taken port.
TEST(ListenAddress, BindsPortZeroAndRefusesATakenPort) {
  auto first = cppcluster::bind_all({parse_listen("tcp://127.0.0.1:0")}, 16);
  ASSERT_EQ(first.size(), 1u);
  const auto& addr = first[0].address;
  ASSERT_EQ(addr.rfind("tcp://127.0.0.1:", 0), 0u) << addr;
  EXPECT_NE(addr, "tcp://127.0.0.1:0");
  try {
    cppcluster::bind_all({parse_listen(addr)}, 16);
    ADD_FAILURE() << "bound " << addr << " twice";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on " + addr), std::string::npos) << e.what();
  }
  cppcluster::close_all(first);
}

}  // namespace
