// What the supervisor tells about its pool: the status JSON (/status) and the Prometheus text
// exposition (/metrics), both from Pool::snapshot() and the supervisor's own counters.
#pragma once

#include "cluster/pool.hpp"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cppcluster {

// The supervisor's counters beside the pool's snapshot.
struct PoolFigures {
  std::vector<cluster::WorkerSnapshot> workers;
  std::map<int, std::string> status_text;  // by worker id: its last sd_notify STATUS=
  unsigned target = 0;
  unsigned ready = 0;
  bool draining = false;
  bool crash_looped = false;
  bool reloading = false;
  unsigned reloads = 0;         // completed
  unsigned reload_failures = 0;
  double last_reload_seconds = 0;
  unsigned exits = 0;           // worker exits seen
  unsigned watchdog_kills = 0;  // workers replaced by --watchdog (silent, or WATCHDOG=trigger)
};

// "starting", "ready", "retiring".
const char* state_name(cluster::PoolWorkerState s) noexcept;
// {"target":..,"ready":..,"draining":..,"workers":[{"id","pid","slot","state","uptime_ms",
// "restarts","rss_bytes","cpu_ms","connections" (open ones, null when unknown: a plain program),
// "status"}]}.
nlohmann::json status_json(const PoolFigures& f);
// The Prometheus text format (version 0.0.4) of f: HELP and TYPE before each family.
std::string prometheus_text(const PoolFigures& f);

}  // namespace cppcluster
