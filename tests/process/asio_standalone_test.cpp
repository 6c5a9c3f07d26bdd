// cluster/asio.hpp with standalone Asio (<asio.hpp>): beside Asio's own timer in the worker, the
// cluster keeps working: messages both ways, a cluster::Timer, a message sent and a cluster
// timeout started from inside an Asio handler, a signal, and a clean exit on worker().disconnect().
#include <cluster/asio.hpp>

#include "net_test_client.hpp"
#include "support/test_support.hpp"

#include <asio/write.hpp>

#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <vector>

static_assert(!CPPCLUSTER_ASIO_BOOST, "this test is the standalone Asio one");

using namespace cluster;
using namespace testing_support;
using namespace std::chrono_literals;

namespace {

::asio::io_context& io() {
  static ::asio::io_context c{1};
  return c;
}

}  // namespace

// Beside Asio's own steady_timer (every 5 ms): a cluster::Timer (every 10 ms), a SIGUSR2
// listener, and the primary's pings, each answered with the tick counts. The first Asio tick
// starts a cluster timeout and sends a message from inside an Asio handler. {cmd: "bye"}: stops
// the Asio timer and disconnects from the worker's side.
WORKER_ROLE(asio_timer_worker) {
  static int uv_ticks = 0, asio_ticks = 0;
  static bool stop = false;
  static ::asio::steady_timer timer(io());
  static std::function<void()> tick = [] {
    timer.expires_after(5ms);
    timer.async_wait([](const std::error_code& ec) {
      if (ec || stop) return;
      if (++asio_ticks == 1) {
        worker().send({{"cmd", "asio_handler_send"}});
        set_timeout([] { worker().send({{"cmd", "timeout_from_asio"}}); }, 20ms);
      }
      tick();
    });
  };
  static Timer interval = set_interval([] { ++uv_ticks; }, 10ms);
  on_signal(SIGUSR2, [](int) { worker().send({{"cmd", "signal"}}); });
  worker().on(ev::message, [](const Message& m, Handle&) {
    const std::string cmd = m.value("cmd", "");
    if (cmd == "ping") {
      worker().send({{"cmd", "pong"}, {"n", m.value("n", 0)}, {"uv_ticks", uv_ticks}, {"asio_ticks", asio_ticks}});
    } else if (cmd == "bye") {
      stop = true;
      timer.cancel();
      interval.cancel();
      worker().disconnect();
    }
  });
  tick();
  cluster::asio::run(io());
}

// A cluster timeout (30 ms) started from an Asio handler while only Asio's far timer (10 s) and
// an idle channel are pending: it must fire on time. Reports how long it took, then disconnects.
WORKER_ROLE(asio_late_timer_worker) {
  static ::asio::steady_timer soon(io()), far(io());
  far.expires_after(10s);
  far.async_wait([](const std::error_code&) {});
  soon.expires_after(1ms);
  soon.async_wait([](const std::error_code&) {
    const auto start = std::chrono::steady_clock::now();
    set_timeout([start] {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      worker().send({{"cmd", "fired"}, {"ms", ms.count()}});
      far.cancel();
      worker().disconnect();
    }, 30ms);
  });
  cluster::asio::run(io());
}

// Verifies that beside Asio the cluster keeps working in the worker: 20 ping/pong messages in
// order, its cluster::Timer ticking between them, a message sent and a cluster timeout started
// from an Asio handler both arriving, a signal handled, and worker().disconnect() ending the
// worker with exit code 0 and exited_after_disconnect.
TEST(AsioStandalone, TimersMessagesAndSignalsBesideAsio) {
  constexpr int pings = 20;
  int pongs = 0, signals = 0, from_asio = 0, timeout_from_asio = 0;
  int last_uv_ticks = -1, last_asio_ticks = -1;
  int exit_code = -1;
  std::optional<bool> after_disconnect;
  auto w = fork_role("asio_timer_worker");
  std::function<void(int)> ping = [&](int n) {
    // Spaced out, so that the timers have time to tick between pings.
    after(15, [&, n] { w->send({{"cmd", "ping"}, {"n", n}}); });
  };
  w->on(ev::online, [&] { ping(1); });
  w->on(ev::message, [&](const Message& m, Handle&) {
    const std::string cmd = m.value("cmd", "");
    if (cmd == "asio_handler_send") ++from_asio;
    if (cmd == "timeout_from_asio") ++timeout_from_asio;
    if (cmd == "signal") {
      ++signals;
      w->send({{"cmd", "bye"}});
    }
    if (cmd != "pong") return;
    EXPECT_EQ(m.value("n", 0), ++pongs);
    last_uv_ticks = m.value("uv_ticks", -1);
    last_asio_ticks = m.value("asio_ticks", -1);
    if (pongs < pings) return ping(pongs + 1);
    w->process().kill(SIGUSR2);
  });
  w->on(ev::exit, [&](int code, std::string_view signal) {
    exit_code = signal.empty() ? code : -1;
    after_disconnect = w->exited_after_disconnect();
  });
  run_loop(60s);
  EXPECT_EQ(pongs, pings);
  // 20 pings 15 ms apart: about 300 ms, so about 30 cluster ticks (10 ms) and 60 Asio ticks (5 ms);
  // a third of that leaves room for a loaded machine while still failing a timer that stalls.
  EXPECT_GE(last_uv_ticks, 10);
  EXPECT_GE(last_asio_ticks, 20);
  EXPECT_EQ(from_asio, 1);
  EXPECT_EQ(timeout_from_asio, 1);
  EXPECT_EQ(signals, 1);
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(after_disconnect, std::optional<bool>(true));
}

// Verifies that a cluster timer started from inside an Asio handler fires on time even when
// nothing else wakes libuv (run() re-reads libuv's next deadline after every Asio handler), and
// that the worker then exits 0 on its own disconnect.
TEST(AsioStandalone, TimerStartedFromAsioHandlerFiresOnTime) {
  long fired_ms = -1;
  int exit_code = -1;
  auto w = fork_role("asio_late_timer_worker");
  w->on(ev::message, [&](const Message& m, Handle&) { fired_ms = m.value("ms", -1L); });
  w->on(ev::exit, [&](int code, std::string_view signal) { exit_code = signal.empty() ? code : -1; });
  run_loop(60s);
  EXPECT_GE(fired_ms, 30);
  EXPECT_LT(fired_ms, 2000) << "the timeout waited for something else to wake the loop";
  EXPECT_EQ(exit_code, 0);
}

// Verifies that accept_into on a Unix socket server (which a tcp::socket cannot hold) closes
// each connection and reports EAFNOSUPPORT through the server's error event, the handler never
// called, and that a TCP server in the same process hands its connections over as tcp::sockets
// (standalone Asio, the primary's own listening socket: accept4 in the library).
TEST(AsioStandalone, AcceptIntoServesTcpAndRefusesUnixSockets) {
  net_test::TempDir dir;
  int tcp_served = 0;
  int unix_handled = 0;
  std::vector<std::string> errors;
  std::string tcp_reply = "?", unix_reply = "?";
  auto tcp_server = net::create_server();
  auto unix_server = net::create_server();
  cluster::asio::accept_into(io(), *tcp_server, [&](::asio::ip::tcp::socket s) {
    ++tcp_served;
    std::error_code ec;
    ::asio::write(s, ::asio::buffer(std::string("tcp via asio")), ec);
  });
  cluster::asio::accept_into(io(), *unix_server, [&](::asio::ip::tcp::socket) { ++unix_handled; });
  unix_server->on(ev::error, [&](const std::system_error& e) { errors.push_back(err_name(e.code())); });
  std::unique_ptr<net_test::ClientThreads> clients;
  const std::string path = dir.path() + "/s";
  unix_server->listen(net::ListenOptions{.path = path}, [&] {
    tcp_server->listen(0, "127.0.0.1", [&] {
      const int port = tcp_server->address()->port;
      clients = std::make_unique<net_test::ClientThreads>();
      clients->start({[port] { return net_test::request({"tcp4", port, ""}, ""); },
                      [path] { return net_test::request({"unix", 0, path}, ""); }},
                     1,
                     [&](std::size_t i, const std::string& r) { (i == 0 ? tcp_reply : unix_reply) = r; },
                     [&] {
                       tcp_server->close();
                       unix_server->close();
                     });
    });
  });
  cluster::asio::run(io());
  io().restart();
  EXPECT_EQ(tcp_served, 1);
  EXPECT_EQ(tcp_reply, "tcp via asio");
  EXPECT_EQ(unix_handled, 0);
  EXPECT_EQ(unix_reply, "");  // closed without an answer
  EXPECT_EQ(errors, std::vector<std::string>{"EAFNOSUPPORT"});
}
