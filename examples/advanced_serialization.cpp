// advanced_serialization: messages JSON cannot carry (Node docs, settings.serialization).
//
// With serialization 'advanced' messages travel in V8's format, as Node's do: bytes as a Buffer
// (json::binary_t), NaN and the infinities as numbers. The primary sends one such message, the
// worker checks what it got and sends it back; the primary prints what returned. Under the
// default 'json' the bytes could not be sent at all and NaN would arrive as null.
//
//   build/examples/advanced_serialization
//
// Prints:
//   worker got: bytes is a Buffer of 4, nan is NaN, inf is inf
//   primary got back: bytes 00 ff 0a 00, nan NaN, inf inf, text "héllo"
#include <cluster/cluster.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

using namespace cluster;

namespace {

// The message's values as text (dump() would write NaN and Infinity as null).
std::string describe(const Message& m) {
  std::string bytes;
  char hex[4];
  for (auto b : m["bytes"].get_binary()) std::snprintf(hex, sizeof hex, " %02x", b), bytes += hex;
  const double nan = m["nan"].get<double>(), inf = m["inf"].get<double>();
  return "bytes" + bytes + ", nan " + (std::isnan(nan) ? "NaN" : std::to_string(nan)) + ", inf " +
         (std::isinf(inf) ? "inf" : std::to_string(inf)) + ", text " + m["text"].dump();
}

}  // namespace

int main() {
  if (is_primary()) {
    setup_primary({.serialization = Serialization::advanced});
    auto w = cluster::fork();
    w->on(ev::message, [w = w.get()](const Message& m) {
      std::printf("primary got back: %s\n", describe(m).c_str());
      w->disconnect();
    });
    w->send({{"bytes", Message::binary({0x00, 0xff, 0x0a, 0x00})},
             {"nan", std::numeric_limits<double>::quiet_NaN()},
             {"inf", std::numeric_limits<double>::infinity()},
             {"text", "héllo"}});
  } else {
    worker().on(ev::message, [](const Message& m) {
      std::printf("worker got: bytes is %s of %zu, nan is %s, inf is %s\n",
                  m["bytes"].is_binary() ? "a Buffer" : "not a Buffer", m["bytes"].get_binary().size(),
                  std::isnan(m["nan"].get<double>()) ? "NaN" : "a number", std::isinf(m["inf"].get<double>()) ? "inf" : "finite");
      std::fflush(stdout);
      worker().send(m);
    });
  }
  return run();
}
