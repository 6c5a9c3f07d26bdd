// The kill-storm figure's pool: WORKERS (default 2) workers answer every connection at once with
// "pid:<pid>" and close it; a worker that dies is replaced at its exit. The primary prints
// "port <n>" once a worker listens (PORT, default 0: any free port) and stops on SIGTERM.
// bench/node/storm_pool.js is the same pool in Node.js; bench/storm_client loads and kills it.
// HOSTILE=<kind> adds one misbehaving worker beside them (bench/hostile_bench.sh measures what
// the others serve meanwhile): fds (descriptors on every message), queryserver (asks for server
// after server), noread (listens, then never returns to its loop), stop (listens, then SIGSTOP).
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>
#include <uv.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

bool stopping = false;

// Writes bytes on the channel (fd 3), with `fds` copies of a memfd attached; drops them when the
// channel is full (a flood does not wait).
void send_raw(const std::string& bytes, int fds) {
  static const int memfd = ::memfd_create("storm-hostile", MFD_CLOEXEC);
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (fds > 0) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(fds));
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(fds));
    for (int i = 0; i < fds; ++i) std::memcpy(CMSG_DATA(cm) + i * sizeof(int), &memfd, sizeof(int));
  }
  if (::sendmsg(3, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) std::_Exit(0);
}

// The misbehaving worker of HOSTILE=kind.
void hostile(const std::string& kind) {
  static std::string what = kind;
  static auto server =
      cluster::net::create_server([](const std::shared_ptr<cluster::net::Socket>& s) { s->end("pid:0\n"); });
  if (what == "noread" || what == "stop") {
    server->listen(env_int("PORT", 0), "127.0.0.1");
    server->on(cluster::ev::listening, [] {
      if (what == "stop") ::raise(SIGSTOP);
      for (;;) ::pause();  // never back to the loop: reads nothing, answers nothing
    });
    return;
  }
  // fds / queryserver: a frame per loop turn, as fast as the channel takes them.
  static uv_idle_t idle;
  uv_idle_init(cluster::loop(), &idle);
  uv_idle_start(&idle, [](uv_idle_t*) {
    static long n = 0;
    for (int i = 0; i < 64; ++i, ++n) {
      if (what == "fds") {
        send_raw("{\"n\":" + std::to_string(n) + "}\n", 8);
      } else {
        send_raw(R"({"cmd":"NODE_CLUSTER","act":"queryServer","address":"127.0.0.1","port":0,"addressType":4,"fd":-1,"index":)" +
                     std::to_string(n) + R"(,"seq":)" + std::to_string(n + 1) + "}\n",
                 0);
      }
    }
  });
}

}  // namespace

int main() {
  if (cluster::is_primary()) {
    const int n = env_int("WORKERS", 2);
    for (int i = 0; i < n; ++i) cluster::fork();
    static std::string hostile_kind = std::getenv("HOSTILE") ? std::getenv("HOSTILE") : "";
    static int hostile_id = 0;
    if (!hostile_kind.empty()) hostile_id = cluster::fork({{"CPPCLUSTER_HOSTILE", hostile_kind}})->id();
    cluster::on(cluster::ev::exit, [](cluster::Worker& w, int, std::string_view) {
      if (stopping || w.exited_after_disconnect().value_or(false)) return;
      if (w.id() == hostile_id) {
        hostile_id = cluster::fork({{"CPPCLUSTER_HOSTILE", hostile_kind}})->id();
      } else {
        cluster::fork();
      }
    });
    // A hostile worker cut off by a bound: its error is expected, and its channel is closed, so
    // it is killed (a plain cppcluster worker would exit by itself at the channel's end).
    cluster::on(cluster::ev::disconnect, [](cluster::Worker& w) {
      if (w.id() == hostile_id && !stopping) w.kill(SIGKILL);
    });
    cluster::set_error_hook([](const std::system_error&, cluster::Worker*) {});
    cluster::once(cluster::ev::listening, [](cluster::Worker&, const cluster::Address& a) {
      std::printf("port %d\n", a.port);
      std::fflush(stdout);
    });
    static uv_signal_t term;
    uv_signal_init(cluster::loop(), &term);
    uv_signal_start(&term, [](uv_signal_t*, int) {
      stopping = true;
      cluster::disconnect();
    }, SIGTERM);
    uv_unref(reinterpret_cast<uv_handle_t*>(&term));
  } else if (const char* kind = std::getenv("CPPCLUSTER_HOSTILE")) {
    hostile(kind);
  } else {
    static const std::string answer = "pid:" + std::to_string(getpid()) + "\n";
    static auto server =
        cluster::net::create_server([](const std::shared_ptr<cluster::net::Socket>& s) { s->end(answer); });
    server->listen(env_int("PORT", 0), "127.0.0.1");
  }
  return cluster::run();
}
