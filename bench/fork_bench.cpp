// Fork figures: time from fork() to online and to listening (median over FORKS sequential forks,
// each worker killed before the next), time until 8 workers forked at once all listen, and the RSS
// of an idle listening worker (median VmRSS of those 8, read from /proc/<pid>/status).
// Usage: fork_bench [forks=20] [parallel=8]. Prints one JSON line.
// The Node.js twin is bench/node/fork_bench.js; bench/run.sh runs both.
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace cluster;

namespace {

double ms_since(uint64_t t0) { return static_cast<double>(uv_hrtime() - t0) / 1e6; }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

double vm_rss_kb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6);
  }
  return -1;
}

int forks = 20, parallel = 8;
int done_sequential = 0, listening_parallel = 0;
uint64_t t_fork = 0, t_parallel = 0;
double all_listening_ms = 0, rss_kb = 0;
std::vector<double> online_ms, listen_ms;
std::vector<std::shared_ptr<Worker>> batch;
uv_timer_t settle;
enum class Phase { sequential, parallel, done } phase = Phase::sequential;

void fork_one() {
  t_fork = uv_hrtime();
  cluster::fork();
}

void fork_batch() {
  phase = Phase::parallel;
  t_parallel = uv_hrtime();
  for (int i = 0; i < parallel; ++i) batch.push_back(cluster::fork());
}

}  // namespace

int main(int argc, char** argv) {
  if (is_worker()) {
    auto server = net::create_server();
    server->listen(0, "127.0.0.1");
    return run();
  }
  if (argc > 1) forks = std::atoi(argv[1]);
  if (argc > 2) parallel = std::atoi(argv[2]);
  setup_primary({.args = std::vector<std::string>{}});

  cluster::on(ev::online, [](Worker&) {
    if (phase == Phase::sequential) online_ms.push_back(ms_since(t_fork));
  });
  cluster::on(ev::listening, [](Worker& w, const Address&) {
    if (phase == Phase::sequential) {
      listen_ms.push_back(ms_since(t_fork));
      w.kill();
    } else if (phase == Phase::parallel && ++listening_parallel == parallel) {
      all_listening_ms = ms_since(t_parallel);
      // Let the workers settle (idle) before reading their RSS.
      uv_timer_init(loop(), &settle);
      uv_timer_start(&settle, [](uv_timer_t* t) {
        std::vector<double> rss;
        for (auto& w : batch) rss.push_back(vm_rss_kb(w->process().pid()));
        rss_kb = median(rss);
        phase = Phase::done;
        for (auto& w : batch) w->kill();
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
      }, 300, 0);
    }
  });
  cluster::on(ev::exit, [](Worker&, int, std::string_view) {
    if (phase != Phase::sequential) return;
    if (++done_sequential < forks) fork_one();
    else fork_batch();
  });
  fork_one();
  run();
  if (static_cast<int>(listen_ms.size()) != forks || listening_parallel != parallel) {
    std::fprintf(stderr, "fork_bench: incomplete (%zu of %d forks, %d of %d parallel)\n", listen_ms.size(), forks,
                 listening_parallel, parallel);
    return 1;
  }
  std::printf("{\"impl\":\"cppcluster\",\"fork_online_ms\":%.3f,\"fork_listening_ms\":%.3f,"
              "\"all%d_listening_ms\":%.3f,\"idle_worker_rss_kb\":%.0f}\n",
              median(online_ms), median(listen_ms), parallel, all_listening_ms, rss_kb);
  return 0;
}
