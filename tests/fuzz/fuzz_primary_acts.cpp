// Fuzzes the primary's NODE_CLUSTER handling: internal::dispatch, primary.cpp's on_message (online,
// listening, exitedAfterDisconnect, unknown acts, acts of the wrong type) and the queryServer and
// close acts of query_server.cpp, through the real path from the channel. primary.cpp's handler is
// reachable only from fork(), so the harness forks two workers of fuzz_relay_worker, which hand
// their ends of the channel back; the input's messages are then written on those ends as the
// workers' own, and the primary's answers are read there (NODE_HANDLE frames acknowledged, their
// descriptors closed).
//
// Input: lines of JSON objects. Each is sent as a worker's message, with cmd NODE_CLUSTER when it
// has none. Harness fields, removed before sending: "$w" picks the worker (0 or 1); "$fds": n
// attaches n (up to 4) descriptors to the frame; a line with "$connect" sends nothing and
// connects a client to one of the servers made so far; a line with "$leave" closes the worker's
// end of the channel (it is replaced at the end of the input); "ack": "$" becomes the seq of the
// last message the primary sent that worker (to answer a newconn). Each worker may share 16
// servers (max_servers_per_worker), so that inputs reach the bound.
// A queryServer (also one in a NODE_HANDLE's msg) binds loopback only: its address becomes
// 127.0.0.1 or ::1 unless it is a loopback or unparsable literal, an integer port becomes 0, a
// Unix path one in a temporary directory, and an fd one of a few loopback sockets and odd
// descriptors made at start-up.
// After each input every newconn is answered and every server closed with the close act; the
// primary must then hold exactly the descriptors it held before (a leak aborts), and nothing may
// throw or crash. NODE_CLUSTER_SCHED_POLICY=none or =reuseport fuzzes the other policies;
// FUZZ_TRACE=1 prints every message both ways.
#include "fd_passing.hpp"
#include "fuzz_support.hpp"

#include "detail.hpp"
#include "ipc/handle_wire.hpp"
#include "ipc/json_codec.hpp"
#include "wire.hpp"

#include <cluster/cluster.hpp>
#include <uv.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using namespace cluster;

namespace {

constexpr int worker_count = 2;
constexpr int max_lines = 32;

// One worker as the fuzzer plays it.
struct Peer {
  std::shared_ptr<Worker> worker;
  int back = -1;     // the relay's socket: closing it ends the relay
  int channel = -1;  // the worker's end of the IPC channel
  std::unique_ptr<ipc::Codec> reader = ipc::make_codec(Serialization::json, std::size_t{1} << 24);
  std::int64_t last_seq = -1;
  std::vector<std::int64_t> newconns;  // newconn seqs not answered yet
};

// Where a client can connect: a loopback TCP port or a Unix path.
struct Server {
  int family = AF_INET;
  int port = 0;
  std::string path;
};

struct State {
  std::string dir;              // temporary directory for Unix paths
  std::vector<int> odd_fds;     // what an "fd" field is rewritten to
  Peer peers[worker_count];
  std::int64_t sync_sent = 0, sync_seen = 0;
  std::set<std::string> keys;   // every key the primary answered with
  std::vector<Server> servers;
  std::vector<int> clients;
  int paths = 0;
};

// The harness's state, for the whole process.
State& st() {
  static State* s = new State();
  return *s;
}

// A socket of type bound to loopback port 0 (listening when asked); -1 on failure.
int loopback_socket(int type, bool listening) {
  const int s = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -1;
  if (listening) ::listen(s, 8);
  return s;
}

// The descriptors an "fd" field may name: loopback sockets of each kind, a Unix socket, a file,
// and a number that is not open.
void make_odd_fds() {
  auto& s = st();
  s.odd_fds.push_back(loopback_socket(SOCK_STREAM, false));
  s.odd_fds.push_back(loopback_socket(SOCK_STREAM, true));
  s.odd_fds.push_back(loopback_socket(SOCK_DGRAM, false));
  s.odd_fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int u = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::snprintf(un.sun_path, sizeof un.sun_path, "%s/odd", s.dir.c_str());
  ::bind(u, reinterpret_cast<sockaddr*>(&un), sizeof un);
  s.odd_fds.push_back(u);
  s.odd_fds.push_back(4000);
}

// Writes a frame of m on fd, waiting for room, with nfds fresh descriptors (a TCP socket, then
// /dev/null, ...) on its first byte; false when the channel is gone.
bool write_frame(int fd, const Message& m, unsigned nfds = 0) {
  std::string bytes;
  ipc::write_json(m, bytes);
  bytes += '\n';
  int fds[4];
  std::size_t made = 0;
  for (unsigned i = 0; i < nfds && made < 4; ++i) {
    const int f = i % 2 ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f >= 0) fds[made++] = f;
  }
  std::string_view rest = bytes;
  for (int tries = 0; !rest.empty() && tries < 1000; ++tries) {
    const ssize_t n = fuzz::send_with_fds(fd, rest, fds, rest.size() == bytes.size() ? made : 0);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno != EAGAIN) {
      break;
    } else {
      uv_run(cluster::loop(), UV_RUN_NOWAIT);  // the primary reads: room again
    }
  }
  for (std::size_t i = 0; i < made; ++i) ::close(fds[i]);
  return rest.empty();
}

// Handles one message the primary sent peer p: acknowledges handles, notes seqs, keys, servers.
void on_primary_message(Peer& p, Message& m) {
  if (!m.is_object()) fuzz::fail("the primary sent a non-object: " + fuzz::show(m));
  static const bool trace = std::getenv("FUZZ_TRACE") != nullptr;
  if (trace) std::fprintf(stderr, "primary -> worker %d: %s\n", p.worker->id(), fuzz::show(m).c_str());
  if (m.value("cmd", "") == wire::node_handle) {
    if (m.value(wire::no_ack, false) != true) write_frame(p.channel, {{"cmd", wire::node_handle_ack}});
    Message inner = m.value("msg", Message());
    on_primary_message(p, inner);
    return;
  }
  if (auto seq = m.find("seq"); seq != m.end() && seq->is_number_integer()) p.last_seq = seq->get<std::int64_t>();
  if (m.value("act", "") == wire::act::newconn) p.newconns.push_back(p.last_seq);
  auto key = m.find("key");
  if (m.contains("ack") && key != m.end() && key->is_string()) st().keys.insert(key->get<std::string>());
  if (auto sn = m.find("sockname"); sn != m.end() && sn->is_object() && sn->value("port", 0) > 0) {
    st().servers.push_back({sn->value("family", "") == "IPv6" ? AF_INET6 : AF_INET, sn->value("port", 0), {}});
  }
}

// Reads what the primary wrote to peer p, closing any descriptors that came with it.
void drain(Peer& p) {
  char buf[65536];
  for (;;) {
    const ssize_t n = fuzz::recv_with_fds(p.channel, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return;
    std::vector<Message> got;
    ipc::DecodeError err;
    if (!p.reader->feed({buf, static_cast<std::size_t>(n)}, [&](Message&& m) { got.push_back(std::move(m)); }, err)) {
      fuzz::fail("the primary wrote a frame that does not decode: " + err.detail);
    }
    for (auto& m : got) on_primary_message(p, m);
  }
}

// Sends m (with nfds descriptors) as peer p's message, then a marker, and runs the loop until the
// primary has handled both.
void deliver(Peer& p, const Message& m, unsigned nfds = 0) {
  auto& s = st();
  static const bool trace = std::getenv("FUZZ_TRACE") != nullptr;
  if (trace) std::fprintf(stderr, "worker %d -> primary: %s\n", p.worker->id(), fuzz::show(m).c_str());
  const std::int64_t marker = ++s.sync_sent;
  if (!write_frame(p.channel, m, nfds) || !write_frame(p.channel, {{"fuzz_sync", marker}})) return;
  fuzz::pump([&] { return s.sync_seen >= marker || !p.worker->is_connected(); }, 200);
  drain(p);
}

// Waits up to ms for fd to be readable (a signal, such as SIGCHLD, does not cut the wait short).
bool wait_readable(int fd, int ms) {
  pollfd pfd{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&pfd, 1, ms);
  } while (r < 0 && errno == EINTR);
  return r == 1;
}

// Forks a relay worker into p and takes its end of the channel.
void start_worker(Peer& p) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fuzz::fail("socketpair");
  Settings settings;
  settings.exec = RELAY_WORKER;
  settings.args = std::vector<std::string>{};
  settings.stdio = std::vector<Stdio>{Stdio::ignore(), Stdio::inherit(), Stdio::inherit(), Stdio::ipc(), Stdio::from_fd(sv[1])};
  settings.max_servers_per_worker = 16;  // low enough for an input to pass it
  setup_primary(settings);
  p.worker = cluster::fork();
  if (std::getenv("FUZZ_TRACE")) std::fprintf(stderr, "forked relay worker %d\n", p.worker->id());
  ::close(sv[1]);
  p.back = sv[0];
  if (!wait_readable(p.back, 10000)) {
    fuzz::pump([] { return false; }, 10);  // lets an exit be seen
    const auto code = p.worker->process().exit_code();
    fuzz::fail("the relay worker (pid " + std::to_string(p.worker->process().pid()) + ") did not hand its channel over in 10 s; " +
               (code ? "it exited with " + std::to_string(*code) : std::string("it has not exited")));
  }
  char byte;
  std::size_t got = 1;
  if (fuzz::recv_with_fds(p.back, &byte, 1, 0, &p.channel, &got) != 1 || got != 1) fuzz::fail("no channel from the relay worker");
  if (!wait_readable(p.back, 10000) || ::read(p.back, &byte, 1) != 1) fuzz::fail("the relay worker kept its copy of the channel");
  p.reader = ipc::make_codec(Serialization::json, std::size_t{1} << 24);
  p.worker->on(ev::error, [](const std::system_error&) {});
  p.worker->on(ev::message, [](const Message& m, Handle&) {
    if (m.is_object() && m.contains("fuzz_sync")) st().sync_seen = m["fuzz_sync"].get<std::int64_t>();
  });
}

// Replaces workers whose channel closed; waits for the old ones to be gone.
void ensure_workers() {
  for (Peer& p : st().peers) {
    if (p.worker && p.worker->is_connected()) continue;
    if (p.worker) {
      if (p.channel >= 0) ::close(p.channel);
      ::close(p.back);
      const auto old = p.worker;
      const uint64_t deadline = uv_now(cluster::loop()) + 5000;
      fuzz::pump([&] {
        uv_update_time(cluster::loop());
        return (old->is_dead() && !old->is_connected()) || uv_now(cluster::loop()) > deadline;
      }, 1 << 30);
    }
    start_worker(p);
  }
}

// Whether host is an address literal that libuv would bind, and if so whether it is loopback.
bool parses_as_non_loopback(const std::string& host) {
  sockaddr_in in4{};
  if (uv_ip4_addr(host.c_str(), 0, &in4) == 0) return (ntohl(in4.sin_addr.s_addr) >> 24) != 127;
  sockaddr_in6 in6{};
  if (uv_ip6_addr(host.c_str(), 0, &in6) == 0) return !IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr);
  return false;
}

// An integer field as query_server.cpp reads it (get<int> of any integer), else fallback.
int int_field(const Message& m, const char* f, int fallback) {
  auto it = m.find(f);
  return it != m.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

// Makes a queryServer bind loopback only (see the protocol block at the top).
void confine(Message& m) {
  auto& s = st();
  const int port = int_field(m, "port", 0);
  const int type = int_field(m, "addressType", 4);
  if (auto fd = m.find("fd"); fd != m.end() && fd->is_number_integer() && fd->get<int>() >= 0) {
    *fd = s.odd_fds[static_cast<std::size_t>(fd->get<int>()) % s.odd_fds.size()];
  }
  if (port == -1 && type == -1) {
    const std::string path = s.dir + "/s" + std::to_string(++s.paths);
    m["address"] = path;
    s.servers.push_back({AF_UNIX, 0, path});
    return;
  }
  if (port != 0) m["port"] = 0;
  auto a = m.find("address");
  if (a == m.end() || !a->is_string() || a->get_ref<const std::string&>().empty() ||
      parses_as_non_loopback(a->get<std::string>())) {
    m["address"] = type == 6 || m.value("addressType", Message()) == "udp6" ? "::1" : "127.0.0.1";
  }
}

// Connects a client to server number n of those made so far.
void connect_client(std::size_t n) {
  auto& s = st();
  if (s.servers.empty()) return;
  const Server& srv = s.servers[n % s.servers.size()];
  const int c = ::socket(srv.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c < 0) return;
  s.clients.push_back(c);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (srv.family == AF_UNIX) {
    auto& un = reinterpret_cast<sockaddr_un&>(ss);
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof un.sun_path, "%s", srv.path.c_str());
    len = sizeof un;
  } else if (srv.family == AF_INET6) {
    uv_ip6_addr("::1", srv.port, reinterpret_cast<sockaddr_in6*>(&ss));
    len = sizeof(sockaddr_in6);
  } else {
    uv_ip4_addr("127.0.0.1", srv.port, reinterpret_cast<sockaddr_in*>(&ss));
    len = sizeof(sockaddr_in);
  }
  ::connect(c, reinterpret_cast<sockaddr*>(&ss), len);
}

// The worker closes its end of the channel (as when it dies); it is replaced at the clean-up.
void leave(Peer& p) {
  if (p.channel < 0) return;
  ::close(p.channel);
  p.channel = -1;
  fuzz::pump([&] { return !p.worker->is_connected(); }, 200);
  if (p.worker->is_connected()) {
    ipc::Target* t = detail::WorkerAccess::target(*p.worker);
    std::ifstream epoll("/proc/self/fdinfo/" + std::to_string(uv_backend_fd(cluster::loop())));
    const std::string watched((std::istreambuf_iterator<char>(epoll)), std::istreambuf_iterator<char>());
    fuzz::fail("the primary did not see worker " + std::to_string(p.worker->id()) + " close its channel (channel " +
               (t->channel().closed() ? "closed" : "open") + ", fd " + std::to_string(t->channel().fd()) +
               "); the loop's epoll set:\n" + watched + "descriptors:\n" + fuzz::list_fds());
  }
  for (Peer& q : st().peers) drain(q);
}

// Sends one line of the input, or performs its harness action.
void run_line(Message& m) {
  auto& s = st();
  const int w = m.contains("$w") && m["$w"].is_number_integer() ? static_cast<int>(m["$w"].get<std::int64_t>() & 1) : 0;
  Peer& p = s.peers[w];
  if (m.contains("$connect")) {
    connect_client(m["$connect"].is_number_unsigned() ? m["$connect"].get<std::size_t>() : 0);
    fuzz::pump([] { return false; }, 4);
    for (Peer& q : s.peers) drain(q);
    return;
  }
  if (m.contains("$leave")) {
    leave(p);
    return;
  }
  const unsigned nfds = m.contains("$fds") && m["$fds"].is_number_unsigned() ? m["$fds"].get<unsigned>() % 5 : 0;
  m.erase("$w");
  m.erase("$fds");
  if (!m.contains("cmd")) m["cmd"] = wire::node_cluster;
  if (auto ack = m.find("ack"); ack != m.end() && *ack == "$") *ack = p.last_seq;
  if (m.value("act", Message()) == wire::act::query_server) confine(m);
  // A NODE_HANDLE's msg is dispatched as the worker's own message: confine it as well.
  if (auto inner = m.find("msg"); inner != m.end() && inner->is_object() && inner->value("act", Message()) == wire::act::query_server) {
    confine(*inner);
  }
  if (auto ack = m.find("ack"); ack != m.end() && ack->is_number_integer()) {
    std::erase(p.newconns, ack->get<std::int64_t>());
  }
  deliver(p, m, nfds);
}

// Answers (accepted) every newconn the workers were sent and have not answered, until none is left.
void answer_newconns() {
  auto& s = st();
  for (int round = 0; round < 4; ++round) {
    bool any = false;
    for (Peer& p : s.peers) {
      drain(p);
      const auto open = std::move(p.newconns);
      p.newconns.clear();
      for (auto seq : open) deliver(p, {{"cmd", wire::node_cluster}, {"ack", seq}, {"accepted", true}});
      any = any || !open.empty();
    }
    if (!any) return;
  }
}

// Answers every newconn, closes every server from both workers and the clients, and resets what
// a worker's messages changed.
void clean_up() {
  auto& s = st();
  answer_newconns();
  for (const auto& key : s.keys) {
    for (Peer& p : s.peers) deliver(p, {{"cmd", wire::node_cluster}, {"act", wire::act::close}, {"key", key}});
  }
  s.keys.clear();
  s.servers.clear();
  fuzz::close_all(s.clients);
  fuzz::pump([] { return false; }, 4);
  answer_newconns();
  // Descriptors no NODE_HANDLE claimed are held until a frame of a later read: send one.
  for (Peer& p : s.peers) deliver(p, {{"fuzz_flush", true}});
  ensure_workers();
  for (Peer& p : s.peers) detail::WorkerAccess::exited_after_disconnect(*p.worker).reset();
}

}  // namespace

// libFuzzer's set-up: the temporary directory, the odd descriptors and the two workers.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/cppcluster-fuzz-XXXXXX";
  if (!::mkdtemp(dir.data())) fuzz::fail("mkdtemp");
  st().dir = dir;
  std::atexit([] { std::filesystem::remove_all(st().dir); });
  make_odd_fds();
  set_error_hook([](const std::system_error&, Worker*) {});
  ensure_workers();
  return 0;
}

// libFuzzer's entry: each line a worker's message, then the clean-up and the descriptor check.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ensure_workers();
  const std::size_t before = fuzz::open_fds();
  const std::string before_list = fuzz::list_fds();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < max_lines && !rest.empty(); ++i) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    Message m = Message::parse(line.begin(), line.end(), nullptr, false);
    if (m.is_object()) run_line(m);
  }
  clean_up();
  const std::size_t after = fuzz::open_fds();
  if (after != before) {
    fuzz::fail("descriptor leak in the primary: " + std::to_string(before) + " open before the input, " + std::to_string(after) +
               " after\nbefore:\n" + before_list + "after:\n" + fuzz::list_fds());
  }
  return 0;
}
