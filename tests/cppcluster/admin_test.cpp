// Process tests of `cppcluster run --admin`: Kubernetes played by the test (SIGTERM turns
// /readyz 503 at once while /healthz stays 200 and the request in flight completes), /metrics
// read by a strict Prometheus text-format parser, /status read back as JSON; and the operator's
// TTIN/TTOU/QUIT signals.
#include "http_get.hpp"
#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;
using cppcluster_test::http_get;

// A strict reader of the Prometheus text format 0.0.4: every sample belongs to a family
// declared by HELP and TYPE before it, names and labels are well formed, values are numbers.
// Returns "name{labels}" -> value, or fails the test naming the bad line.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string help_for;
  const std::regex help("^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$");
  const std::regex type("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$");
  const std::regex sample(
      "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\.)*\""
      "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\.)*\")*)?\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$");
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last line must end";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      EXPECT_EQ(types.count(m[1]), 0u) << "HELP after samples of " << m[1];
      help_for = m[1];
    } else if (std::regex_match(line, m, type)) {
      EXPECT_EQ(help_for, m[1]) << "TYPE without its HELP: " << line;
      EXPECT_EQ(types.count(m[1]), 0u) << "family declared twice: " << line;
      types[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_EQ(types.count(m[1]), 1u) << "sample of an undeclared family: " << line;
      const std::string key = std::string(m[1]) + std::string(m[2]);
      EXPECT_EQ(samples.count(key), 0u) << "duplicate sample: " << line;
      samples[key] = std::stod(m[m.size() - 1]);  // the value is the last group
    } else {
      ADD_FAILURE() << "not Prometheus text format: '" << line << "'";
    }
  }
  return samples;
}

struct Supervisor {
  explicit Supervisor(std::vector<std::string> options) {
    options.insert(options.begin(), "run");
    options.insert(options.end(), {"--", PYTHON3, TEST_SERVER});
    child = std::make_unique<Child>(CPPCLUSTER_BIN, std::vector<std::pair<std::string, std::string>>{}, options);
  }
  int port_of(const std::string& pattern) {
    auto m = child->wait_for(pattern);
    return m.empty() ? 0 : std::stoi(m[1]);
  }
  std::unique_ptr<Child> child;
};

// Verifies the Kubernetes stop: on SIGTERM /readyz answers 503 at once while /healthz stays
// 200, the request in flight completes, and the supervisor exits 0 well before the grace period.
TEST(CppclusterAdmin, SigtermTurnsReadyzFalseFirstThenDrains) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2", "--min-ready", "2",
                "--graceful-timeout", "60s"});
  const int port = s.port_of("listening on tcp://127\\.0\\.0\\.1:(\\d+)");
  const int admin = s.port_of("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_GT(port, 0) << s.child->output();
  ASSERT_GT(admin, 0) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\] serving pid=", 2).empty()) << s.child->output();
  EXPECT_EQ(http_get(admin, "/readyz").first, 200) << s.child->output();
  EXPECT_EQ(http_get(admin, "/healthz").first, 200);

  auto slow = std::async(std::launch::async, [port] { return http_get(port, "/slow?ms=3000"); });
  ASSERT_FALSE(s.child->wait_for("\\] slow start pid=").empty()) << s.child->output();
  // The plain workers do not report connections: /status counts them from /proc, and the slow
  // request's is the only one they hold.
  const auto [scode, sbody] = http_get(admin, "/status");
  ASSERT_EQ(scode, 200);
  const auto st = nlohmann::json::parse(sbody, nullptr, false);
  std::uint64_t open = 0;
  for (const auto& w : st["workers"]) {
    ASSERT_TRUE(w["connections"].is_number()) << sbody;
    open += w["connections"].get<std::uint64_t>();
  }
  EXPECT_EQ(open, 1u) << sbody;
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(s.child->pid(), SIGTERM);
  ASSERT_FALSE(s.child->wait_for("SIGTERM: stopping gracefully").empty());
  // The slow request holds the drain open: these answers come while it runs.
  EXPECT_EQ(http_get(admin, "/readyz").first, 503) << s.child->output();
  EXPECT_EQ(http_get(admin, "/healthz").first, 200) << s.child->output();
  const auto [code, body] = slow.get();
  EXPECT_EQ(code, 200) << body << s.child->output();
  const int status = s.child->wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << s.child->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child->output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 50s);
}

// Verifies /metrics in strict Prometheus text format with the pool's figures, and /status as
// JSON, before and after a reload.
TEST(CppclusterAdmin, MetricsAndStatusDescribeThePool) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "3"});
  const int admin = s.port_of("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_GT(admin, 0) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\] serving pid=", 3).empty()) << s.child->output();

  auto [code, text] = http_get(admin, "/metrics");
  ASSERT_EQ(code, 200);
  auto m = parse_prometheus(text);
  EXPECT_EQ(m["cppcluster_workers_target"], 3);
  EXPECT_EQ(m["cppcluster_workers{state=\"ready\"}"], 3) << text;
  EXPECT_EQ(m["cppcluster_reloads_total"], 0);
  EXPECT_EQ(m["cppcluster_draining"], 0);

  auto [scode, sbody] = http_get(admin, "/status");
  ASSERT_EQ(scode, 200);
  const auto j = nlohmann::json::parse(sbody);
  ASSERT_EQ(j["workers"].size(), 3u) << sbody;
  std::set<int> slots;
  for (const auto& w : j["workers"]) {
    EXPECT_EQ(w["state"], "ready");
    EXPECT_GT(w["pid"].get<int>(), 0);
    EXPECT_GT(w["rss_bytes"].get<std::uint64_t>(), 0u) << "a live Python process has resident memory";
    EXPECT_GT(m["cppcluster_worker_resident_memory_bytes{id=\"" + std::to_string(w["id"].get<int>()) +
                "\",pid=\"" + std::to_string(w["pid"].get<int>()) + "\",slot=\"" +
                std::to_string(w["slot"].get<int>()) + "\"}"],
              0)
        << text;
    slots.insert(w["slot"].get<int>());
  }
  EXPECT_EQ(slots, (std::set<int>{0, 1, 2}));

  ::kill(s.child->pid(), SIGHUP);
  ASSERT_FALSE(s.child->wait_for("reload done").empty()) << s.child->output();
  auto after = parse_prometheus(http_get(admin, "/metrics").second);
  EXPECT_EQ(after["cppcluster_reloads_total"], 1);
  EXPECT_GT(after["cppcluster_last_reload_duration_seconds"], 0);
  EXPECT_EQ(http_get(admin, "/nope").first, 404);
  ::kill(s.child->pid(), SIGTERM);
  const int status = s.child->wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child->output();
}

// Verifies TTIN adds a worker, TTOU retires one (the pool's size read from /metrics), and QUIT
// stops at once: the workers are killed, the supervisor exits 0.
TEST(CppclusterAdmin, TtinTtouScaleAndQuitStopsAtOnce) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2"});
  const int admin = s.port_of("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_GT(admin, 0) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\] serving pid=", 2).empty()) << s.child->output();
  ::kill(s.child->pid(), SIGTTIN);
  ASSERT_FALSE(s.child->wait_for("SIGTTIN: 3 workers").empty()) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\] serving pid=", 3).empty()) << s.child->output();
  EXPECT_EQ(parse_prometheus(http_get(admin, "/metrics").second)["cppcluster_workers{state=\"ready\"}"], 3);
  ::kill(s.child->pid(), SIGTTOU);
  ASSERT_FALSE(s.child->wait_for("SIGTTOU: 2 workers").empty()) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\) exited with code 0").empty()) << s.child->output();
  EXPECT_EQ(parse_prometheus(http_get(admin, "/metrics").second)["cppcluster_workers_target"], 2);
  ::kill(s.child->pid(), SIGQUIT);
  const int status = s.child->wait_exit(30s);
  ASSERT_TRUE(WIFEXITED(status)) << s.child->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child->output();
  EXPECT_FALSE(s.child->wait_for("killed by SIGKILL", 2, 5s).empty()) << s.child->output();
}

// Verifies a Kubernetes pod deletion as the kubelet and a load balancer play it, under load (8
// connections, a new one per request): SIGTERM turns /readyz 503 at once while /healthz stays
// 200 and /metrics (strictly parsed) says draining; the balancer, probing /readyz, stops sending
// once it fails; the workers kept serving through --shutdown-delay, so not one request of the
// load failed; the supervisor exits 0 before the pod's grace period (35 s, as
// examples/kubernetes/deployment.yaml).
TEST(CppclusterAdmin, KubernetesTerminationUnderLoadLosesNoRequest) {
  Supervisor s({"--listen", "tcp://127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2", "--min-ready", "2",
                "--shutdown-delay", "5s", "--graceful-timeout", "20s"});
  const int port = s.port_of("listening on tcp://127\\.0\\.0\\.1:(\\d+)");
  const int admin = s.port_of("admin on http://127\\.0\\.0\\.1:(\\d+)");
  ASSERT_GT(port, 0) << s.child->output();
  ASSERT_GT(admin, 0) << s.child->output();
  ASSERT_FALSE(s.child->wait_for("\\] serving pid=", 2).empty()) << s.child->output();
  ASSERT_EQ(http_get(admin, "/readyz").first, 200) << s.child->output();

  storm::Client load(port, "GET / HTTP/1.0\r\n\r\n", "listen_pid=", 8, 20s);
  load.start();
  for (int i = 0; i < 1000 && load.counts().total() < 50; ++i) std::this_thread::sleep_for(10ms);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(s.child->pid(), SIGTERM);
  // The balancer probes until /readyz fails (at most 3000 probes), then sends nothing new.
  int probes = 0;
  while (http_get(admin, "/readyz").first == 200 && ++probes < 3000) std::this_thread::sleep_for(10ms);
  load.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "/readyz still 200 long after SIGTERM";
  EXPECT_EQ(http_get(admin, "/readyz").first, 503) << s.child->output();
  EXPECT_EQ(http_get(admin, "/healthz").first, 200) << s.child->output();
  auto m = parse_prometheus(http_get(admin, "/metrics").second);
  EXPECT_EQ(m["cppcluster_draining"], 1);
  const auto counts = load.counts();
  EXPECT_EQ(counts.failed(), 0u) << counts.summary() << s.child->output();
  EXPECT_GT(counts[storm::Outcome::ok], 50u) << counts.summary();
  const int status = s.child->wait_exit(60s);
  ASSERT_TRUE(WIFEXITED(status)) << s.child->output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << s.child->output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 35s) << "past the pod's grace period";
  EXPECT_FALSE(s.child->wait_for("SIGTERM: /readyz now 503; stopping gracefully in 5000 ms").empty()) << s.child->output();
}

}  // namespace
