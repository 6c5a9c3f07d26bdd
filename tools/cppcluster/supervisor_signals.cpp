// The operator's signals (supervisor.hpp), as gunicorn and nginx take them: HUP rolling reload,
// TERM and INT graceful stop (the same signal again: at once), QUIT immediate stop, TTIN and
// TTOU one worker more or less, USR1 reopen of the log file, USR2 upgrade in place.
#include "supervisor.hpp"

#include "log_sink.hpp"
#include "logs.hpp"

#include <csignal>

namespace cppcluster {

using namespace std::chrono_literals;

void Supervisor::handle_signals() {
  signals_.push_back(cluster::on_signal(SIGHUP, [this](int) { reload("SIGHUP"); }));
  signals_.push_back(cluster::on_signal(SIGUSR1, [](int) { reopen_log_file("SIGUSR1"); }));
  for (int sig : {SIGTERM, SIGINT}) {
    signals_.push_back(cluster::on_signal(sig, [this](int s) {
      if (stopping_) {
        log_line(std::string(cluster::signal_name(s)) + " again: stopping now");
        stop(0ms, exit_code_);
        return;
      }
      stop_gracefully(std::string(cluster::signal_name(s)));
    }));
  }
  signals_.push_back(cluster::on_signal(SIGQUIT, [this](int) {
    log_line("SIGQUIT: stopping now");
    stop(0ms, stopping_ ? exit_code_ : 0);
  }));
  signals_.push_back(cluster::on_signal(SIGTTIN, [this](int) { scale("SIGTTIN", pool_->size() + 1); }));
  signals_.push_back(cluster::on_signal(SIGUSR2, [this](int) { upgrade("SIGUSR2"); }));
  signals_.push_back(cluster::on_signal(SIGTTOU, [this](int) {
    if (pool_->size() > 1) scale("SIGTTOU", pool_->size() - 1);
  }));
}

}  // namespace cppcluster
