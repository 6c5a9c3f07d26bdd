#include "watchdog.hpp"

#include "logs.hpp"

#include <algorithm>
#include <csignal>
#include <string>

namespace cppcluster {
namespace {

cluster::Worker* find_worker(int id) {
  auto all = cluster::workers();
  auto it = all.find(id);
  return it == all.end() ? nullptr : it->second.get();
}

}  // namespace

Watchdogs::Watchdogs(std::chrono::milliseconds interval, std::chrono::milliseconds kill_grace,
                     ReadPending read_pending)
    : interval_(interval), kill_grace_(kill_grace), read_pending_(std::move(read_pending)) {}

Watchdogs::~Watchdogs() {
  forget_all();
  for (auto& [id, t] : killing_) t.cancel();
}

void Watchdogs::ready(cluster::Worker& w) {
  if (!enabled() || w.is_dead()) return;
  watched_[w.id()].last = Clock::now();
  arm(w.id(), interval_);
}

void Watchdogs::arm(int id, Clock::duration after) {
  auto it = watched_.find(id);
  if (it == watched_.end()) return;
  it->second.timer.cancel();
  // Rounded up: a timer that fires a little early only re-arms for the rest.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(after);
  it->second.timer = cluster::set_timeout([this, id] { expired(id); }, std::max(ms, std::chrono::milliseconds(1)));
}

void Watchdogs::ping(int id) {
  // Only the time moves: the timer, armed for the old deadline, re-arms itself for the new one.
  if (auto it = watched_.find(id); it != watched_.end()) it->second.last = Clock::now();
}

void Watchdogs::trigger(int id) {
  if (watched_.count(id)) replace(id, "asked for its watchdog (WATCHDOG=trigger)");
}

void Watchdogs::forget(int id) {
  auto it = watched_.find(id);
  if (it == watched_.end()) return;
  it->second.timer.cancel();
  watched_.erase(it);
}

void Watchdogs::forget_all() {
  for (auto& [id, w] : watched_) w.timer.cancel();
  watched_.clear();
}

void Watchdogs::expired(int id) {
  // Timers run before the loop reads sockets: pings sent while this loop was busy are read first.
  if (read_pending_) read_pending_(id);
  auto it = watched_.find(id);
  if (it == watched_.end()) return;
  const auto silent = Clock::now() - it->second.last;
  if (silent < interval_) {
    arm(id, interval_ - silent);
    return;
  }
  replace(id, "sent no WATCHDOG=1 for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()) +
                  " ms (--watchdog " + std::to_string(interval_.count()) + " ms)");
}

void Watchdogs::replace(int id, const std::string& why) {
  forget(id);
  cluster::Worker* w = find_worker(id);
  if (!w || w->is_dead()) return;
  ++replaced_;
  const int pid = w->process().pid();
  log_line("worker " + std::to_string(id) + " (pid " + std::to_string(pid) + ") " + why +
           ": hung, sending SIGTERM (SIGKILL in " + std::to_string(kill_grace_.count()) + " ms)");
  w->kill(SIGTERM);
  // A hung program may not run its SIGTERM handler at all.
  killing_[id] = cluster::set_timeout([this, id] {
    killing_.erase(id);
    if (cluster::Worker* x = find_worker(id); x && !x->is_dead()) x->kill(SIGKILL);
  }, kill_grace_);
}

}  // namespace cppcluster
