#include "reexec.hpp"

#include "log_sink.hpp"
#include "logs.hpp"

#include "cluster/cluster.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace cppcluster {
namespace {

constexpr const char* env_state = "CPPCLUSTER_REEXEC_STATE";
// What the first image took out of its environment (service_notify.hpp, activation.hpp).
constexpr const char* saved_vars[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"};

void set_cloexec(int fd, bool on) {
  if (fd < 0) return;
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

std::vector<int> fds_of(const ReexecState& s) {
  std::vector<int> fds{s.admin_fd, s.control_fd};
  for (const auto& b : s.sockets) fds.push_back(b.fd);
  for (const auto& w : s.workers) {
    fds.push_back(w.out_fd);
    fds.push_back(w.err_fd);
  }
  for (const auto& g : s.groups) {
    for (const auto& m : g) fds.push_back(m.fd);
  }
  return fds;
}

const char* kind_name(ListenSpec::Kind k) {
  return k == ListenSpec::Kind::udp ? "udp" : k == ListenSpec::Kind::unix_stream ? "unix" : "tcp";
}

// This process's arguments, as it was started (/proc/self/cmdline).
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  std::size_t start = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] != '\0') continue;
    argv.emplace_back(all, start, i - start);
    start = i + 1;
  }
  return argv;
}

}  // namespace

const std::string& started_exe() {
  static const std::string path = [] {
    char buf[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }();
  return path;
}

const std::map<std::string, std::string>& started_env() {
  static const std::map<std::string, std::string> env = [] {
    std::map<std::string, std::string> m;
    for (const char* v : saved_vars) {
      if (const char* x = std::getenv(v)) m[v] = x;
    }
    return m;
  }();
  return env;
}

WorkerPipes::WorkerPipes() {
  fork_ = cluster::on(cluster::ev::fork, [this](cluster::Worker& w) {
    InheritedWorker iw;
    iw.pid = w.process().pid();
    iw.id = w.id();
    if (auto* s = w.process().stdout_stream()) iw.out_fd = s->fd();
    if (auto* s = w.process().stderr_stream()) iw.err_fd = s->fd();
    by_id_[w.id()] = iw;
  });
  exit_ = cluster::on(cluster::ev::exit, [this](cluster::Worker& w, int, std::string_view) { by_id_.erase(w.id()); });
}

WorkerPipes::~WorkerPipes() {
  cluster::off(fork_);
  cluster::off(exit_);
}

std::vector<InheritedWorker> WorkerPipes::live() const {
  std::vector<InheritedWorker> out;
  for (const auto& [id, w] : by_id_) {
    if (w.pid > 0) out.push_back(w);
  }
  return out;
}

std::error_code reexec(const ReexecState& s) {
  const std::string& exe = started_exe();
  if (exe.empty()) return std::make_error_code(std::errc::no_such_file_or_directory);
  nlohmann::json j;
  j["sockets"] = nlohmann::json::array();
  for (const auto& b : s.sockets) {
    j["sockets"].push_back({{"fd", b.fd}, {"name", b.spec.name}, {"address", b.address},
                            {"kind", kind_name(b.spec.kind)}, {"path", b.spec.path}});
  }
  j["workers"] = nlohmann::json::array();
  for (const auto& w : s.workers) {
    j["workers"].push_back({{"pid", w.pid}, {"id", w.id}, {"out", w.out_fd}, {"err", w.err_fd}});
  }
  j["groups"] = nlohmann::json::array();
  for (const auto& g : s.groups) {
    auto& jg = j["groups"].emplace_back(nlohmann::json::array());
    for (const auto& m : g) jg.push_back({m.fd, m.pid});
  }
  j["env"] = s.env;
  j["stale_dir"] = s.stale_dir;
  j["admin"] = s.admin_fd;
  j["control"] = s.control_fd;
  std::vector<std::string> args = own_argv();
  if (args.empty()) return std::make_error_code(std::errc::invalid_argument);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (int fd : fds_of(s)) set_cloexec(fd, false);
  ::setenv(env_state, j.dump().c_str(), 1);
  for (const auto& [k, v] : s.env) ::setenv(k.c_str(), v.c_str(), 1);
  ::execv(exe.c_str(), argv.data());
  const int err = errno;
  for (int fd : fds_of(s)) set_cloexec(fd, true);
  ::unsetenv(env_state);
  for (const auto& [k, v] : s.env) ::unsetenv(k.c_str());
  return {err, std::generic_category()};
}

std::optional<ReexecState> take_reexec_state() {
  const char* text = std::getenv(env_state);
  if (!text) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  ::unsetenv(env_state);
  if (!j.is_object()) return std::nullopt;
  ReexecState s;
  try {
    for (const auto& b : j.at("sockets")) {
      BoundSocket bs;
      bs.fd = b.at("fd").get<int>();
      bs.spec.name = b.at("name").get<std::string>();
      bs.address = b.at("address").get<std::string>();
      const std::string kind = b.at("kind").get<std::string>();
      bs.spec.kind = kind == "udp" ? ListenSpec::Kind::udp : kind == "unix" ? ListenSpec::Kind::unix_stream : ListenSpec::Kind::tcp;
      bs.spec.path = b.at("path").get<std::string>();
      bs.spec.text = bs.address;
      s.sockets.push_back(std::move(bs));
    }
    for (const auto& w : j.at("workers")) {
      s.workers.push_back({w.at("pid").get<int>(), w.at("id").get<int>(), w.at("out").get<int>(), w.at("err").get<int>()});
    }
    for (const auto& g : j.at("groups")) {
      auto& members = s.groups.emplace_back();
      for (const auto& m : g) members.push_back({m.at(0).get<int>(), m.at(1).get<int>()});
    }
    s.env = j.at("env").get<std::map<std::string, std::string>>();
    s.stale_dir = j.value("stale_dir", "");
    s.admin_fd = j.value("admin", -1);
    s.control_fd = j.value("control", -1);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  for (int fd : fds_of(s)) set_cloexec(fd, true);
  return s;
}

// The read end of an old worker's stdout or stderr: its lines go to the LogSink, as a new
// worker's do (worker_output.hpp).
struct PreviousWorkers::Pipe {
  Pipe(int id, int pid, OutStream s)
      : lines([id, pid, s](std::string_view line) { LogSink::instance().worker_line(id, pid, s, line); }) {}
  uv_pipe_t handle{};
  LineSplitter lines;
  bool closing = false;

  void close() {
    if (closing) return;
    closing = true;
    lines.flush();
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), [](uv_handle_t* h) { delete static_cast<Pipe*>(h->data); });
  }
};

PreviousWorkers::PreviousWorkers(std::vector<InheritedWorker> workers,
                                 std::function<void(const InheritedWorker&, int)> on_exit)
    : alive_(std::move(workers)), on_exit_(std::move(on_exit)) {
  for (const auto& w : alive_) {
    for (auto [fd, which] : {std::pair{w.out_fd, OutStream::out}, std::pair{w.err_fd, OutStream::err}}) {
      if (fd < 0) continue;
      auto* p = new Pipe(w.id, w.pid, which);
      p->handle.data = p;
      uv_pipe_init(cluster::loop(), &p->handle, 0);
      if (uv_pipe_open(&p->handle, fd) != 0) {
        ::close(fd);
        p->close();
        continue;
      }
      pipes_.push_back(p);
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&p->handle),
          [](uv_handle_t*, size_t, uv_buf_t* b) {
            static char slab[16384];
            *b = uv_buf_init(slab, sizeof slab);
          },
          [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
            auto* pp = static_cast<Pipe*>(st->data);
            if (n < 0) {
              uv_read_stop(st);
              pp->lines.flush();
              return;
            }
            pp->lines.feed(std::string_view(b->base, static_cast<std::size_t>(n)));
          });
    }
  }
  sigchld_ = cluster::on_signal(SIGCHLD, [this](int) { reap(); });
  reap();  // any that exited during the exec
}

PreviousWorkers::~PreviousWorkers() {
  cluster::off_signal(sigchld_);
  kill_timer_.cancel();
  for (auto* p : pipes_) p->close();
}

bool PreviousWorkers::owns(int pid) const {
  for (const auto& w : alive_) {
    if (w.pid == pid) return true;
  }
  return false;
}

void PreviousWorkers::reap() {
  for (std::size_t i = 0; i < alive_.size();) {
    int status = 0;
    const pid_t r = ::waitpid(alive_[i].pid, &status, WNOHANG);
    // ECHILD: already reaped (the subreaper's first sweep, before it was told to skip them).
    if (r < 0 && errno == ECHILD) status = -1;
    if (r == alive_[i].pid || status == -1) {
      const InheritedWorker w = alive_[i];
      alive_.erase(alive_.begin() + static_cast<std::ptrdiff_t>(i));
      if (alive_.empty()) kill_timer_.cancel();
      if (on_exit_) on_exit_(w, status);
    } else {
      ++i;
    }
  }
}

void PreviousWorkers::retire(int sig, std::chrono::milliseconds deadline) {
  retired_ = true;
  for (const auto& w : alive_) ::kill(w.pid, sig);
  kill_timer_ = cluster::set_timeout([this] {
    for (const auto& w : alive_) ::kill(w.pid, SIGKILL);
  }, deadline);
}

}  // namespace cppcluster
