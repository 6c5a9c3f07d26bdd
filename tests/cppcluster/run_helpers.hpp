// Helpers of the tests that drive a real `cppcluster run`: the workers it counted ready, whether
// a pid still runs, and a SIGHUP reload under continuous load with every outcome counted.
#pragma once

#include "support/child_lines.hpp"
#include "support/storm_client.hpp"

#include "http_get.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cppcluster_test {

// The pids of the ready workers number from .. from+n-1 in the supervisor's log ("worker ID
// (pid P) ready" lines, counted from the start); fewer when they did not come.
inline std::set<int> ready_pids(child_lines::Child& c, std::size_t n, std::size_t from = 1) {
  std::set<int> pids;
  for (std::size_t i = from; i < from + n; ++i) {
    auto m = c.wait_for("worker \\d+ \\(pid (\\d+)\\) ready", i);
    if (m.empty()) return pids;
    pids.insert(std::stoi(m[1]));
  }
  return pids;
}

// True while pid names a process that is not a zombie (/proc/PID/stat's state).
inline bool alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Sends SIGHUP to the supervisor under load (4 connections, a new one per request, answers
// holding expect) and checks the reload: "reload done", each of old_pids exited with code 0,
// not one request failed; returns the new generation's pids (n of them, the ready lines after
// the old ones).
inline std::set<int> reload_under_load(child_lines::Child& sup, int port, const std::set<int>& old_pids,
                                       const std::string& expect) {
  using namespace std::chrono_literals;
  storm::Client client(port, "GET / HTTP/1.0\r\n\r\n", expect, 4, 20s);
  client.start();
  for (int i = 0; i < 500 && client.counts().total() < 50; ++i) std::this_thread::sleep_for(10ms);
  ::kill(sup.pid(), SIGHUP);
  EXPECT_FALSE(sup.wait_for("reload done").empty()) << sup.output();
  for (int pid : old_pids) {
    EXPECT_FALSE(sup.wait_for("\\(pid " + std::to_string(pid) + "\\) exited with code 0").empty()) << pid << sup.output();
  }
  const auto before = client.counts().total();
  for (int i = 0; i < 500 && client.counts().total() < before + 50; ++i) std::this_thread::sleep_for(10ms);
  client.stop();
  const auto counts = client.counts();
  EXPECT_EQ(counts.failed(), 0u) << counts.summary() << sup.output();
  EXPECT_GT(counts[storm::Outcome::ok], 100u) << counts.summary();
  return ready_pids(sup, old_pids.size(), old_pids.size() + 1);
}

// Sends rounds of 8 concurrent GET /slow?ms=MS until `want` worker pids answered (at most
// `rounds` rounds); each answer's status and body go to check (which asserts what the test
// wants). Returns the pids seen, read from the answers' "pid=P".
inline std::set<int> pids_answering(int port, std::size_t want, int rounds = 50, int ms = 50,
                                    const std::function<void(int, const std::string&)>& check = {}) {
  std::set<int> seen;
  const std::string path = "/slow?ms=" + std::to_string(ms);
  for (int r = 0; r < rounds && seen.size() < want; ++r) {
    std::vector<std::future<std::pair<int, std::string>>> f;
    for (int i = 0; i < 8; ++i) f.push_back(std::async(std::launch::async, [port, path] { return http_get(port, path); }));
    for (auto& x : f) {
      const auto [code, body] = x.get();
      if (check) check(code, body);
      std::smatch m;
      if (std::regex_search(body, m, std::regex("pid=(\\d+)"))) seen.insert(std::stoi(m[1]));
    }
  }
  return seen;
}

}  // namespace cppcluster_test
