// Hand-off counters per worker in the primary, and the worker's close reports (see the header).
#include "scheduler/connection_stats.hpp"

#include "cluster/scheduler.hpp"
#include "detail.hpp"
#include "internal_message.hpp"
#include "primary.hpp"
#include "uv/handle.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <unordered_map>

namespace cluster {
namespace sched {
namespace {

struct PrimarySide {
  bool installed = false;
  std::unordered_map<int, std::shared_ptr<WorkerTotals>> totals;
  std::function<std::uint64_t(int)> in_flight;
};

PrimarySide& primary_side() {
  static PrimarySide* s = new PrimarySide();  // lives as long as the process
  return *s;
}

// {act:'cppclusterClosed', n}: n more of the worker's newconn connections closed. Untrusted: a
// count that is not a positive integer is ignored, and the open count never goes below zero.
void on_closed(Worker& w, Message& m, Handle&) {
  auto n = m.find("n");
  if (n == m.end() || !n->is_number_integer() || n->get<std::int64_t>() <= 0) return;
  auto it = primary_side().totals.find(w.id());
  if (it == primary_side().totals.end() || !it->second->reports) return;
  WorkerTotals& t = *it->second;
  const std::uint64_t open = t.handed_off - std::min(t.closed, t.handed_off);
  t.closed += std::min(static_cast<std::uint64_t>(n->get<std::int64_t>()), open);
}

}  // namespace

std::shared_ptr<WorkerTotals> totals_of(int worker) {
  auto& slot = primary_side().totals[worker];
  if (!slot) slot = std::make_shared<WorkerTotals>();
  return slot;
}

void forget_totals(int worker) { primary_side().totals.erase(worker); }

void note_online(Worker& w, const Message& online) {
  if (auto r = online.find(wire::reports_closes); r != online.end() && *r == true) totals_of(w.id())->reports = true;
}

void install_close_reports(std::function<std::uint64_t(int)> in_flight) {
  auto& s = primary_side();
  s.in_flight = std::move(in_flight);
  if (s.installed) return;
  s.installed = true;
  primary::set_act_handler(wire::act::closed, on_closed);
}

}  // namespace sched

ConnectionStats connection_stats(const Worker& w) {
  detail::require_role(detail::Role::primary, "cluster::connection_stats()");
  ConnectionStats out;
  auto& s = sched::primary_side();
  if (s.in_flight) out.in_flight = s.in_flight(w.id());
  auto it = s.totals.find(w.id());
  if (it == s.totals.end()) return out;
  out.handed_off = it->second->handed_off;
  if (it->second->reports) out.open = static_cast<std::uint64_t>(it->second->open());
  return out;
}

namespace child {
namespace {

struct WorkerSide {
  bool reports = false;
  std::uint64_t pending = 0;  // closes not yet reported
  std::optional<uv::Handle<uv_timer_t>> timer;
};

WorkerSide& worker_side() {
  static WorkerSide* s = new WorkerSide();  // lives as long as the process
  return *s;
}

void flush() {
  auto& s = worker_side();
  if (!s.pending) return;
  const std::uint64_t n = s.pending;
  s.pending = 0;
  // A closed channel drops it: the primary has forgotten this worker's counters by then.
  internal::send(cluster::worker(), {{"act", wire::act::closed}, {"n", n}});
}

}  // namespace

bool read_report_closes_env() {
  const char* v = std::getenv(wire::env_report_closes);
  worker_side().reports = v && std::string(v) == "1";
  unsetenv(wire::env_report_closes);  // not for this worker's own children
  return worker_side().reports;
}

bool reports_closes() { return worker_side().reports; }

void note_closed() {
  auto& s = worker_side();
  if (!s.reports) return;
  if (s.pending++) return;  // a report is due already
  if (!s.timer) {
    s.timer.emplace();
    if (uv_timer_init(uv::loop(), s.timer->get()) != 0) {
      s.timer.reset();
      return flush();
    }
    s.timer->initialized();
    uv_unref(s.timer->base());  // a report never keeps the worker alive
  }
  uv_timer_start(s.timer->get(), [](uv_timer_t*) {
    uv::CallbackScope scope;
    flush();
  }, report_interval_ms, 0);
}

}  // namespace child
}  // namespace cluster
