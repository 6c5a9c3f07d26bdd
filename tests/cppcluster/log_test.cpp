// Tests of the logs of `cppcluster run`: the line splitter and the JSON shape in process, then
// real supervisors running tests/cppcluster/chatty_worker.py (numbered lines on stdout and
// stderr, as fast as Python writes them) with --log-file in a mkdtemp directory: rotation by
// rename + SIGUSR1, and --log-format json.
#include "cli_support.hpp"
#include "log_sink.hpp"
#include "logs.hpp"
#include "support/child_lines.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using child_lines::Child;
using cppcluster_test::file_lines;
using cppcluster_test::wait_file;

std::size_t count_containing(const std::vector<std::string>& lines, const std::string& what) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.find(what) != std::string::npos;
  return n;
}

std::vector<std::string> run_args(std::vector<std::string> options) {
  options.insert(options.begin(), "run");
  options.insert(options.end(), {"--", PYTHON3, CHATTY_WORKER});
  return options;
}

// Verifies that the splitter hands on complete lines only, drops a '\r' before '\n', joins a
// line that came in pieces and cuts one longer than max_line.
TEST(CppclusterLogs, SplitterEmitsWholeLines) {
  std::vector<std::string> got;
  {
    cppcluster::LineSplitter s([&](std::string_view l) { got.emplace_back(l); });
    s.feed("one\ntw");
    s.feed("o\r\nthr");
    EXPECT_EQ(got.size(), 2u);
    s.feed(std::string(cppcluster::LineSplitter::max_line + 10, 'y'));
    s.feed("z\n");
    s.feed("last");
    s.flush();
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], "one");
  EXPECT_EQ(got[1], "two");
  EXPECT_EQ(got[2], "thr" + std::string(cppcluster::LineSplitter::max_line - 3, 'y'));
  EXPECT_EQ(got[3], std::string(13, 'y') + "z");
  EXPECT_EQ(got[4], "last");
}

// Verifies the JSON line of a worker and of the supervisor: one object a line, every byte a
// program may print escaped (quotes, backslashes, control characters) and invalid UTF-8 replaced
// by U+FFFD, never an exception; and the text forms.
TEST(CppclusterLogs, JsonLinesEscapeAnything) {
  using cppcluster::LogFormat;
  using cppcluster::LogSink;
  const std::string odd = "q=\" b=\\ t=\t esc=\x1b nul=" + std::string(1, '\0') + " bad=\xff\xfe end";
  const std::string w = LogSink::format_worker(LogFormat::json, "2026-12-03T12:36:02.123Z", 3, 1234,
                                               cppcluster::OutStream::err, odd);
  ASSERT_EQ(w.back(), '\n');
  EXPECT_EQ(w.find('\n'), w.size() - 1);
  const auto j = nlohmann::json::parse(w);
  EXPECT_EQ(j.at("time"), "2026-12-03T12:36:02.123Z");
  EXPECT_EQ(j.at("source"), "worker");
  EXPECT_EQ(j.at("worker"), 3);
  EXPECT_EQ(j.at("pid"), 1234);
  EXPECT_EQ(j.at("stream"), "stderr");
  EXPECT_EQ(j.at("line"), "q=\" b=\\ t=\t esc=\x1b nul=" + std::string(1, '\0') + " bad=\xef\xbf\xbd\xef\xbf\xbd end");
  const auto s = nlohmann::json::parse(LogSink::format_supervisor(LogFormat::json, "t", 77, "started"));
  EXPECT_EQ(s.at("source"), "cppcluster");
  EXPECT_TRUE(s.at("worker").is_null());
  EXPECT_EQ(s.at("pid"), 77);
  EXPECT_EQ(s.at("line"), "started");
  EXPECT_EQ(LogSink::format_worker(LogFormat::text, "", 3, 1234, cppcluster::OutStream::out, "hi"), "[w3 1234] hi\n");
  EXPECT_EQ(LogSink::format_supervisor(LogFormat::text, "", 77, "started"), "cppcluster: started\n");
  EXPECT_TRUE(std::regex_match(LogSink::now_text(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << LogSink::now_text();
}

// Per worker pid and stream, the seq numbers of its chatty lines in the order they were written.
using Seqs = std::map<std::pair<std::string, std::string>, std::vector<long>>;

// Checks one text line of --log-file: a supervisor line, or a worker line whole and under its
// own pid; adds a chatty line's seq to seqs and a "done" line's last to done.
void check_text_line(const std::string& line, Seqs& seqs, std::map<std::string, long>& done) {
  static const std::regex chatty(R"(^\[w\d+ (\d+)\] chatty pid=(\d+) stream=(out|err) seq=(\d+) x+$)");
  static const std::regex finished(R"(^\[w\d+ (\d+)\] done pid=(\d+) last=(-?\d+)$)");
  static const std::regex odd(R"(^\[w\d+ (\d+)\] odd pid=(\d+) quote=.* end$)");
  std::smatch m;
  if (line.rfind("cppcluster: ", 0) == 0) return;
  if (std::regex_match(line, m, chatty)) {
    EXPECT_EQ(m[1], m[2]) << line.substr(0, 120);
    seqs[{m[2], m[3]}].push_back(std::stol(m[4]));
  } else if (std::regex_match(line, m, finished)) {
    EXPECT_EQ(m[1], m[2]) << line;
    done[m[2]] = std::stol(m[3]);
  } else {
    EXPECT_TRUE(std::regex_match(line, m, odd)) << "not a whole line: " << line.substr(0, 160);
  }
}

// Verifies logrotate's way with --log-file: lines go to the file (none to the terminal); after
// the file is renamed they keep going to it until SIGUSR1, then to a new file at the path, whose
// first line says so. Across both files each worker's lines on each stream are all there, whole,
// once and in order, up to the last one it wrote before it stopped.
TEST(CppclusterLogs, RenameThenUsr1ReopensLosingNothing) {
  cppcluster_test::TempDir d("cppcluster-log");
  ASSERT_FALSE(d.path.empty());
  const std::string log = d.path + "/app.log", rotated = d.path + "/app.log.1";
  Child sup(CPPCLUSTER_BIN, {{"PAUSE_MS", "1"}, {"LINE_LEN", "300"}},
            run_args({"--workers", "2", "--log-file", log}));
  ASSERT_TRUE(wait_file(log, [](const auto& l) { return count_containing(l, "] chatty ") >= 1000; }))
      << sup.output();
  ASSERT_EQ(::rename(log.c_str(), rotated.c_str()), 0);
  ASSERT_TRUE(wait_file(rotated, [n = file_lines(rotated).size()](const auto& l) { return l.size() > n + 100; }))
      << "the lines stopped after the rename";
  ::kill(sup.pid(), SIGUSR1);
  ASSERT_TRUE(wait_file(log, [](const auto& l) { return count_containing(l, "] chatty ") >= 1000; }))
      << sup.output();
  ASSERT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output().substr(0, 4000);

  const auto before = file_lines(rotated), after = file_lines(log);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front(), "cppcluster: SIGUSR1: reopened " + log);
  EXPECT_EQ(count_containing(before, "reopened"), 0u);
  Seqs seqs;
  std::map<std::string, long> done;
  for (const auto* lines : {&before, &after}) {
    for (const auto& l : *lines) check_text_line(l, seqs, done);
  }
  ASSERT_EQ(done.size(), 2u) << "a worker's last line is missing";
  ASSERT_EQ(seqs.size(), 4u);
  for (const auto& [key, v] : seqs) {
    ASSERT_TRUE(done.count(key.first)) << key.first;
    ASSERT_EQ(v.size(), static_cast<std::size_t>(done[key.first] + 1)) << "pid " << key.first << " " << key.second;
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<long>(i)) << key.first << " " << key.second;
  }
  // Every line went to the files.
  EXPECT_EQ(sup.output().find("chatty"), std::string::npos) << sup.output().substr(0, 2000);
}

// Verifies --log-format json with two chatty workers writing 6000-byte lines (more than a pipe
// writes at once) as fast as they can: every line of the file parses as one JSON object, each
// worker line is whole and under its own worker's pid and stream, all 300 of each stream are
// there in order, the odd bytes are escaped, and the supervisor's lines say "source":"cppcluster".
TEST(CppclusterLogs, JsonLinesOfTwoChattyWorkersAreWhole) {
  cppcluster_test::TempDir d("cppcluster-log");
  const std::string log = d.path + "/app.json";
  Child sup(CPPCLUSTER_BIN, {{"LINES", "300"}, {"LINE_LEN", "6000"}},
            run_args({"--workers", "2", "--log-file", log, "--log-format", "json"}));
  ASSERT_TRUE(wait_file(log, [](const auto& l) { return count_containing(l, "\"line\":\"done pid=") >= 2; }))
      << sup.output();
  ASSERT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output().substr(0, 4000);

  static const std::regex chatty(R"(^chatty pid=(\d+) stream=(out|err) seq=(\d+) x+$)");
  static const std::regex time(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  Seqs seqs;
  std::size_t supervisor_lines = 0, odd = 0;
  for (const auto& text : file_lines(log)) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not one JSON object: " << text.substr(0, 160);
    ASSERT_TRUE(std::regex_match(j.at("time").get<std::string>(), time)) << text;
    const std::string line = j.at("line").get<std::string>();
    if (j.at("source") == "cppcluster") {
      EXPECT_TRUE(j.at("worker").is_null()) << text;
      EXPECT_EQ(j.at("pid"), sup.pid()) << text;
      ++supervisor_lines;
      continue;
    }
    ASSERT_EQ(j.at("source"), "worker") << text;
    EXPECT_TRUE(j.at("worker").is_number_integer()) << text;
    const std::string pid = std::to_string(j.at("pid").get<int>());
    std::smatch m;
    if (std::regex_match(line, m, chatty)) {
      EXPECT_EQ(m[1], pid) << line.substr(0, 120);
      EXPECT_EQ(j.at("stream"), m[2] == "out" ? "stdout" : "stderr");
      EXPECT_EQ(line.size(), 6000u) << line.substr(0, 120);
      seqs[{pid, m[2]}].push_back(std::stol(m[3]));
    } else if (line.rfind("odd pid=" + pid + " ", 0) == 0) {
      EXPECT_EQ(line, "odd pid=" + pid + " quote=\" backslash=\\ tab=\t esc=\x1b bad=\xef\xbf\xbd end");
      ++odd;
    } else {
      EXPECT_EQ(line.rfind("done pid=" + pid + " last=299", 0), 0u) << line.substr(0, 160);
    }
  }
  EXPECT_GT(supervisor_lines, 2u);
  EXPECT_EQ(odd, 2u);
  ASSERT_EQ(seqs.size(), 4u);
  for (const auto& [key, v] : seqs) {
    ASSERT_EQ(v.size(), 300u) << key.first << " " << key.second;
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<long>(i));
  }
}

// Verifies that a --log-file that cannot be opened is a runtime failure named on stderr: exit 1
// before any worker starts; and that SIGUSR1 without --log-file only says so.
TEST(CppclusterLogs, UnopenableLogFileExitsOneAndUsr1WithoutOneIsHarmless) {
  cppcluster_test::TempDir d("cppcluster-log");
  Child bad(CPPCLUSTER_BIN, {}, run_args({"--log-file", d.path + "/missing/dir/app.log"}));
  EXPECT_FALSE(bad.wait_for("cannot open --log-file " + d.path + "/missing/dir/app\\.log", 1, 30s).empty())
      << bad.output();
  const int status = bad.wait_exit(30s);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(bad.output().find("started"), std::string::npos) << bad.output();

  Child sup(CPPCLUSTER_BIN, {{"LINES", "1"}}, run_args({"--workers", "1"}));
  ASSERT_FALSE(sup.wait_for("done pid=").empty()) << sup.output();
  ::kill(sup.pid(), SIGUSR1);
  EXPECT_FALSE(sup.wait_for("SIGUSR1: no --log-file to reopen").empty()) << sup.output();
  EXPECT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();
}

}  // namespace
