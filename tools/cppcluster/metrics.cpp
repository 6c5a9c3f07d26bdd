#include "metrics.hpp"

#include <cstdio>

namespace cppcluster {

const char* state_name(cluster::PoolWorkerState s) noexcept {
  switch (s) {
    case cluster::PoolWorkerState::starting: return "starting";
    case cluster::PoolWorkerState::ready: return "ready";
    case cluster::PoolWorkerState::retiring: return "retiring";
  }
  return "unknown";
}

nlohmann::json status_json(const PoolFigures& f) {
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& w : f.workers) {
    auto it = f.status_text.find(w.id);
    workers.push_back({{"id", w.id},
                       {"pid", w.pid},
                       {"slot", w.slot},
                       {"state", state_name(w.state)},
                       {"uptime_ms", w.uptime.count()},
                       {"restarts", w.restarts},
                       {"rss_bytes", w.rss_bytes},
                       {"cpu_ms", w.cpu_time.count()},
                       {"connections", w.open_connections ? nlohmann::json(*w.open_connections) : nlohmann::json()},
                       {"status", it == f.status_text.end() ? "" : it->second}});
  }
  return {{"target", f.target},      {"ready", f.ready},           {"draining", f.draining},
          {"reloading", f.reloading}, {"crash_looped", f.crash_looped}, {"reloads", f.reloads},
          {"workers", workers}};
}

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string worker_labels(const cluster::WorkerSnapshot& w) {
  return "{id=\"" + std::to_string(w.id) + "\",pid=\"" + std::to_string(w.pid) + "\",slot=\"" +
         std::to_string(w.slot) + "\"}";
}

}  // namespace

std::string prometheus_text(const PoolFigures& f) {
  std::string o;
  family(o, "cppcluster_workers_target", "gauge", "Workers the pool keeps.");
  o += "cppcluster_workers_target " + std::to_string(f.target) + "\n";
  family(o, "cppcluster_workers", "gauge", "Workers by state.");
  unsigned by[3] = {};
  for (const auto& w : f.workers) ++by[static_cast<int>(w.state)];
  for (int s = 0; s < 3; ++s) {
    o += std::string("cppcluster_workers{state=\"") + state_name(static_cast<cluster::PoolWorkerState>(s)) +
         "\"} " + std::to_string(by[s]) + "\n";
  }
  family(o, "cppcluster_draining", "gauge", "1 once a stop has begun.");
  o += "cppcluster_draining " + std::to_string(f.draining ? 1 : 0) + "\n";
  family(o, "cppcluster_crash_looped", "gauge", "1 once a crash loop stopped respawning.");
  o += "cppcluster_crash_looped " + std::to_string(f.crash_looped ? 1 : 0) + "\n";
  family(o, "cppcluster_reloads_total", "counter", "Rolling reloads completed.");
  o += "cppcluster_reloads_total " + std::to_string(f.reloads) + "\n";
  family(o, "cppcluster_reload_failures_total", "counter", "Rolling reloads stopped by a failed worker.");
  o += "cppcluster_reload_failures_total " + std::to_string(f.reload_failures) + "\n";
  family(o, "cppcluster_last_reload_duration_seconds", "gauge", "Duration of the last completed reload.");
  o += "cppcluster_last_reload_duration_seconds " + num(f.last_reload_seconds) + "\n";
  family(o, "cppcluster_worker_exits_total", "counter", "Worker processes that exited.");
  o += "cppcluster_worker_exits_total " + std::to_string(f.exits) + "\n";
  family(o, "cppcluster_watchdog_kills_total", "counter",
         "Workers killed as hung by --watchdog (no WATCHDOG=1 within the interval, or WATCHDOG=trigger).");
  o += "cppcluster_watchdog_kills_total " + std::to_string(f.watchdog_kills) + "\n";
  family(o, "cppcluster_worker_restarts", "gauge", "Respawns of the worker's slot so far.");
  for (const auto& w : f.workers) o += "cppcluster_worker_restarts" + worker_labels(w) + " " + std::to_string(w.restarts) + "\n";
  family(o, "cppcluster_worker_resident_memory_bytes", "gauge", "Resident memory of the worker.");
  for (const auto& w : f.workers) {
    o += "cppcluster_worker_resident_memory_bytes" + worker_labels(w) + " " + std::to_string(w.rss_bytes) + "\n";
  }
  family(o, "cppcluster_worker_cpu_seconds_total", "counter", "User and system CPU time of the worker.");
  for (const auto& w : f.workers) {
    o += "cppcluster_worker_cpu_seconds_total" + worker_labels(w) + " " + num(w.cpu_time.count() / 1000.0) + "\n";
  }
  family(o, "cppcluster_worker_open_connections", "gauge",
         "Connections the worker holds open (reported, or its established TCP connections).");
  for (const auto& w : f.workers) {
    if (w.open_connections) {
      o += "cppcluster_worker_open_connections" + worker_labels(w) + " " + std::to_string(*w.open_connections) + "\n";
    }
  }
  family(o, "cppcluster_worker_uptime_seconds", "gauge", "Time since the worker was forked.");
  for (const auto& w : f.workers) {
    o += "cppcluster_worker_uptime_seconds" + worker_labels(w) + " " + num(w.uptime.count() / 1000.0) + "\n";
  }
  return o;
}

}  // namespace cppcluster
