// What the Supervisor answers (supervisor.hpp) on the admin endpoint (--admin: GET /healthz,
// /readyz, /metrics, /status) and on the control socket (--control: the same, and POST
// /reload, /scale, /upgrade, /stop of `cppcluster reload|scale|upgrade|stop`).
#include "supervisor.hpp"

#include "proc_connections.hpp"

#include <unistd.h>

#include <charconv>

namespace cppcluster {
namespace {

using namespace std::chrono_literals;

// Fills in the open connections of workers that do not report them (plain programs, Node
// workers): the established TCP connections among their descriptors, read from /proc.
void count_plain_connections(std::vector<cluster::WorkerSnapshot>& workers) {
  std::vector<pid_t> pids;
  for (const auto& w : workers) {
    if (!w.open_connections && w.pid > 0) pids.push_back(w.pid);
  }
  if (pids.empty()) return;
  const auto counts = established_connections(pids);
  for (auto& w : workers) {
    if (w.open_connections) continue;
    if (auto it = counts.find(w.pid); it != counts.end()) w.open_connections = it->second;
  }
}

}  // namespace

HttpReply Supervisor::serve(const HttpRequest& req, Access access) {
  const std::string& path = req.path;
  if (req.method == "POST" && access == Access::control) return act(req);
  if (req.method != "GET") return {405, "text/plain; charset=utf-8", "only GET\n"};
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    // After a re-exec the previous image's workers serve until this image's are ready.
    const unsigned ready = pool_->ready_count() + (previous_ ? previous_->serving() : 0u);
    if (stopping_ || not_ready_) return {503, "text/plain; charset=utf-8", "draining\n"};
    if (ready < opt_.min_ready) {
      return {503, "text/plain; charset=utf-8",
              std::to_string(ready) + " ready, " + std::to_string(opt_.min_ready) + " needed\n"};
    }
    return {200, "text/plain; charset=utf-8", std::to_string(ready) + " ready\n"};
  }
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", prometheus_text(figures())};
  if (path == "/status") return {200, "application/json", status_json(figures()).dump() + "\n"};
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

HttpReply Supervisor::act(const HttpRequest& req) {
  const std::string text = "text/plain; charset=utf-8";
  if (stopping_ && req.path != "/stop") return {409, text, "the supervisor is stopping\n"};
  if (req.path == "/reload") {
    reload("control socket");
    return {200, text, "reloading " + std::to_string(pool_->size()) + " workers\n"};
  }
  if (req.path == "/scale") {
    unsigned n = 0;
    const std::string prefix = "workers=";
    if (req.query.rfind(prefix, 0) == 0) {
      const std::string v = req.query.substr(prefix.size());
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || p != v.data() + v.size()) n = 0;
    }
    if (n < 1 || n > 4096) return {400, text, "scale: expected workers=N with N from 1 to 4096\n"};
    scale("control socket", n);
    return {200, text, std::to_string(n) + " workers\n"};
  }
  if (req.path == "/upgrade") {
    if (const std::string no = upgrade_refusal(); !no.empty()) return {409, text, "no upgrade: " + no + "\n"};
    // After this answer is written.
    upgrade_timer_ = cluster::set_timeout([this] { upgrade("control socket"); }, 100ms);
    return {200, text, "re-executing " + started_exe() + " in place (pid " + std::to_string(::getpid()) + ")\n"};
  }
  if (req.path == "/stop") {
    if (!stopping_) stop_gracefully("control socket");
    return {200, text, "stopping\n"};
  }
  return {404, text, "not found\n"};
}

bool Supervisor::open_admin(int admin_fd, int control_fd, const std::string& whence) {
  if (opt_.admin_port >= 0) {
    try {
      admin_ = std::make_unique<AdminServer>(opt_.admin_host, opt_.admin_port,
                                             [this](const HttpRequest& r) { return serve(r, Access::admin); }, admin_fd);
    } catch (const std::system_error& e) {
      log_line(e.what());
      return false;
    }
    log_line("admin on " + admin_->url() + (admin_fd >= 0 ? whence : ""));
  }
  if (!opt_.control.empty()) {
    try {
      control_ = std::make_unique<AdminServer>(
          UnixPath{opt_.control}, [this](const HttpRequest& r) { return serve(r, Access::control); }, control_fd);
    } catch (const std::system_error& e) {
      log_line(e.what());
      admin_.reset();
      return false;
    }
    log_line("control socket on " + opt_.control + (control_fd >= 0 ? whence : ""));
  }
  return true;
}

PoolFigures Supervisor::figures() {
  PoolFigures f = figures_;
  f.watchdog_kills = watchdogs_ ? watchdogs_->replaced() : 0;
  f.workers = pool_->snapshot();
  count_plain_connections(f.workers);
  for (const auto& [id, ws] : workers_) {
    if (!ws.status.empty()) f.status_text[id] = ws.status;
  }
  f.target = pool_->size();
  f.ready = pool_->ready_count();
  f.draining = stopping_ || not_ready_;
  f.crash_looped = pool_->crash_looped();
  f.reloading = pool_->reloading();
  return f;
}

}  // namespace cppcluster
