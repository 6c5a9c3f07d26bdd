// Helpers of the pool tests: the worker roles' flag file, a one-request client on the loop, and
// the options the tests share (short timers so the tests run in seconds).
#pragma once

#include "support/storm_client.hpp"
#include "support/test_support.hpp"

#include <cluster/net.hpp>
#include <cluster/pool.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pool_test {

// A fresh temporary directory's path for a flag file (not created).
inline std::string flag_path() {
  char dir[] = "/tmp/cppcluster-pool-XXXXXX";
  if (!mkdtemp(dir)) return "/tmp/cppcluster-pool-flag-missing-dir/flag";
  return std::string(dir) + "/flag";
}
// Creates the flag file.
inline void raise_flag(const std::string& path) {
  if (FILE* f = std::fopen(path.c_str(), "w")) std::fclose(f);
}
// True when the flag file exists (in a worker: POOL_FLAG names it).
inline bool flag_raised() {
  const char* p = std::getenv("POOL_FLAG");
  return p && ::access(p, F_OK) == 0;
}

// Options for a pool of n workers running role, with short timers.
inline cluster::PoolOptions options(unsigned n, const std::string& role, const std::string& flag = "") {
  cluster::PoolOptions o;
  o.workers = n;
  o.env = {{"CPPCLUSTER_TEST_ROLE", role}, {"POOL_FLAG", flag}};
  o.backoff_initial = std::chrono::milliseconds(50);
  o.backoff_max = std::chrono::milliseconds(400);
  o.ready_timeout = std::chrono::seconds(20);
  o.retire_deadline = std::chrono::seconds(20);
  return o;
}

// Connects to port on the loop, sends request, and calls done with all it read once closed.
inline void fetch(int port, const std::string& request, std::function<void(const std::string&)> done) {
  static std::vector<std::shared_ptr<cluster::net::Socket>> kept;  // for the test's lifetime
  auto s = cluster::net::Socket::connect(port, "127.0.0.1");
  kept.push_back(s);
  auto body = std::make_shared<std::string>();
  s->on(cluster::ev::data, [body](std::string_view d) { body->append(d); });
  s->on(cluster::ev::close, [body, done] { done(*body); });
  if (!request.empty()) s->write(request);
}

// Stops client's threads without blocking the loop (under sched_rr the primary's loop hands
// their last connections over), then calls done with the counts.
inline void stop_client(storm::Client& client, std::function<void(const storm::Counts&)> done) {
  client.request_stop();
  if (!client.finished()) {
    testing_support::after(20, [&client, done] { stop_client(client, done); });
    return;
  }
  client.stop();
  done(client.counts());
}

// Stops the load without blocking the loop, expects every request answered, then stops the pool.
inline void finish_load(storm::Client& client, cluster::Pool& pool) {
  stop_client(client, [&pool](const storm::Counts& counts) {
    std::printf("[ load     ] %s\n", counts.summary().c_str());
    EXPECT_GT(counts[storm::Outcome::ok], 0u);
    EXPECT_EQ(counts.failed(), 0u) << counts.summary();
    pool.stop(std::chrono::seconds(5));
  });
}

// The pid answer of the pool_http role.
inline std::string answer_of(int pid) { return "pid:" + std::to_string(pid) + "\n"; }

}  // namespace pool_test
