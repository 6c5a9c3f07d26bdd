// The primary's hand-off counters for each worker (cluster::connection_stats), and the act by
// which C++ workers report the round-robin connections they closed.
//
// Wire (beyond Node; only between a cppcluster primary and its C++ workers):
// - the primary sets CPPCLUSTER_REPORT_CLOSES=1 in each worker's environment;
// - a C++ worker that finds it says {"reportsCloses": true} in its online message, and then sends
//   {"cmd":"NODE_CLUSTER","act":"cppclusterClosed","n":N,"seq":S} with the number of connections
//   it got by newconn that closed since its last report, at most every report_interval_ms.
// A Node worker never sees the variable's meaning and never reports (its open count is unknown);
// a C++ worker under a Node primary finds no variable, so nothing changes on Node's wire.
#pragma once

#include "cluster/message.hpp"
#include "cluster/worker.hpp"

#include <cstdint>
#include <functional>
#include <memory>

namespace cluster::sched {

// One worker's hand-off counters, shared by every RoundRobinHandle it joins.
struct WorkerTotals {
  bool reports = false;          // it reports the connections it closes
  std::uint64_t handed_off = 0;  // connections it accepted by newconn
  std::uint64_t closed = 0;      // of those, how many it reported closed
  // Open connections, or -1 when it does not report.
  std::int64_t open() const noexcept {
    return reports ? static_cast<std::int64_t>(handed_off > closed ? handed_off - closed : 0) : -1;
  }
};

// The counters of a worker, created on first use.
std::shared_ptr<WorkerTotals> totals_of(int worker);
// Drops the worker's counters (it has gone; handles may still hold them until they settle).
void forget_totals(int worker);
// Reads the online message's reportsCloses field.
void note_online(Worker& w, const Message& online);
// Registers the close-report act with the primary and where in-flight counts come from
// (unanswered connections of a worker over all servers); idempotent.
void install_close_reports(std::function<std::uint64_t(int worker)> in_flight);

}  // namespace cluster::sched

namespace cluster::child {

// Reads (and removes) CPPCLUSTER_REPORT_CLOSES at the worker's set-up: true when the primary
// wants close reports.
bool read_report_closes_env();
// True once read_report_closes_env() found the variable.
bool reports_closes();
// Counts one closed newconn connection; the count reaches the primary within report_interval_ms.
void note_closed();

// How long closes are gathered into one report.
inline constexpr unsigned report_interval_ms = 5;

}  // namespace cluster::child
