// The Supervisor's upgrade in place (supervisor.hpp, reexec.hpp): the old image hands its
// sockets and workers over to an execve() of the binary; the new image resumes the sockets,
// adopts the previous workers and retires them once its own are all ready.
#include "supervisor.hpp"

#include "logs.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

namespace cppcluster {

using namespace std::chrono_literals;

std::string Supervisor::upgrade_refusal() {
  if (stopping_ || not_ready_) return "the supervisor is stopping";
  if (opt_.mode == WorkerMode::cluster) return "not in --mode cluster (the workers' channels would close)";
  if (pool_->reloading()) return "a reload is running";
  if (previous_ && previous_->any_alive()) return "the previous upgrade has not retired its workers yet";
  if (upgrading_) return "an upgrade is under way";
  return {};
}

void Supervisor::upgrade(const std::string& why) {
  if (const std::string no = upgrade_refusal(); !no.empty()) {
    log_line(why + ": no upgrade: " + no);
    return;
  }
  log_line(why + ": re-executing " + started_exe() + " in place (pid " + std::to_string(::getpid()) + ")");
  upgrading_ = true;
  service_->reloading();
  // Connections wait in the handed-over sockets' queues meanwhile; one the exec cut would fail.
  handed_admin_ = admin_ ? admin_->hand_over() : -1;
  handed_control_ = control_ ? control_->hand_over() : -1;
  admin_.reset();
  control_.reset();
  exec_deadline_ = cluster::set_timeout([this] { exec_upgrade(); }, 1s);
  AdminServer::when_idle([this] { exec_upgrade(); });
}

void Supervisor::exec_upgrade() {
  if (!upgrading_) return;
  upgrading_ = false;
  exec_deadline_.cancel();
  AdminServer::when_idle(nullptr);
  if (stopping_) {
    log_line("no upgrade: the supervisor is stopping");
  } else {
    exec_now();
  }
  // This image keeps running: it serves the sockets it meant to hand over.
  open_admin(std::exchange(handed_admin_, -1), std::exchange(handed_control_, -1), " (served again, not upgraded)");
}

void Supervisor::exec_now() {
  ReexecState st;
  st.sockets = sockets_;
  st.workers = pipes_->live();
  st.env = started_env();
  st.stale_dir = notify_dir_;
  st.admin_fd = handed_admin_;
  st.control_fd = handed_control_;
  if (reuse_) {
    for (const auto& g : reuse_->members()) {
      auto& members = st.groups.emplace_back();
      for (const auto& [fd, id] : g) {
        int pid = 0;
        for (const auto& w : st.workers) pid = w.id == id ? w.pid : pid;
        if (id == 0 || pid > 0) members.push_back({fd, pid});
      }
    }
  }
  const std::error_code ec = reexec(st);
  log_line("re-exec of " + started_exe() + " failed: " + ec.message() + "; this image keeps running");
  if (service_ready_) service_->ready(service_status() + ", upgrade failed");
}

void Supervisor::resume_sockets() {
  log_line("re-executed in place (pid " + std::to_string(::getpid()) + "): " + std::to_string(sockets_.size()) +
           " sockets and " + std::to_string(upgrade_from_->workers.size()) + " workers of the previous image");
  if (opt_.reuseport) {
    reuse_ = std::make_unique<ReuseportGroups>(sockets_, opt_.backlog);
    std::vector<std::vector<std::pair<int, int>>> groups;
    for (const auto& g : upgrade_from_->groups) {
      auto& members = groups.emplace_back();
      for (const auto& m : g) members.emplace_back(m.fd, -m.pid);
    }
    reuse_->adopt(groups);
  }
  for (const auto& s : sockets_) log_line("listening on " + s.address + " (" + s.spec.name + ", kept across the re-exec)");
}

void Supervisor::adopt_previous_workers() {
  previous_ = std::make_unique<PreviousWorkers>(upgrade_from_->workers, [this](const InheritedWorker& w, int status) {
    log_line("previous worker " + std::to_string(w.id) + " (pid " + std::to_string(w.pid) + ")" +
             (status == -1 ? std::string(" exited")
              : WIFSIGNALED(status) ? " killed by " + std::string(cluster::signal_name(WTERMSIG(status)))
                                    : " exited with code " + std::to_string(WEXITSTATUS(status))));
    if (reuse_) reuse_->remove(-w.pid);
    if (previous_ && !previous_->any_alive()) {
      log_line("upgrade done: the previous workers are gone");
      if (!upgrade_from_->stale_dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(upgrade_from_->stale_dir, ec);
      }
    }
  });
  if (reaper_) reaper_->skip([this](int pid) { return previous_ && previous_->owns(pid); });
}

void Supervisor::retire_previous_workers() {
  if (!previous_ || !previous_->serving() || pool_->ready_count() < pool_->size()) return;
  log_line("the new workers are ready: retiring the " + std::to_string(previous_->serving()) + " previous ones");
  if (reuse_) {
    for (const auto& w : upgrade_from_->workers) {
      const int pid = w.pid;
      reuse_->drain(-pid, std::min<std::chrono::milliseconds>(opt_.graceful_timeout, 5s), [this, pid] {
        if (previous_ && previous_->owns(pid)) ::kill(pid, opt_.stop_signal);
      });
    }
    previous_->retire(0, opt_.graceful_timeout);
  } else {
    previous_->retire(opt_.stop_signal, opt_.graceful_timeout);
  }
}

}  // namespace cppcluster
