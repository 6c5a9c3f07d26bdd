// Unit tests of `cppcluster run --config FILE` (config_file.hpp) and of the options it shares
// with the command line (options.hpp): TOML files written to a mkdtemp directory, parsed in
// process, no supervisor started.
#include "cli_support.hpp"
#include "config_file.hpp"
#include "options.hpp"
#include "support/child_lines.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using cppcluster::Parsed;
using cppcluster::UsageError;

// A fresh directory for config files.
struct ConfigDir {
  // Writes text to a new file; its path.
  std::string write(const std::string& text) {
    const std::string file = tmp.path + "/c" + std::to_string(++n) + ".toml";
    std::ofstream(file) << text;
    return file;
  }
  cppcluster_test::TempDir tmp{"cppcluster-conf"};
  const std::string& dir = tmp.path;
  int n = 0;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "cppcluster");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return cppcluster::parse_command_line(static_cast<int>(args.size()), argv.data());
}

// The UsageError's message of parse(args), or "" when it parsed.
std::string usage_error(const std::vector<std::string>& args) {
  try {
    parse(args);
  } catch (const UsageError& e) {
    return e.message;
  }
  return {};
}

// Verifies that every kind of key is read from the file (integers, arrays of addresses, modes,
// durations as strings and as seconds, signals, the log options, the watchdog, the command) and
// reaches the same RunOptions the command line would give.
TEST(CppclusterConfig, ReadsEveryKindOfKey) {
  ConfigDir d;
  ASSERT_FALSE(d.dir.empty());
  const std::string file = d.write(R"(# a pool of four
workers = 4
listen = ["tcp://127.0.0.1:8000", "api=unix:/tmp/cppcluster-x.sock"]
ready = "notify"
graceful-timeout = "10s"
ready-timeout = 5
stop-signal = "INT"
reload-batch = 2
watchdog = "1500ms"
log-format = "json"
log-file = "/tmp/app.log"
admin = "127.0.0.1:9100"
command = ["true", "--flag", "arg with spaces"]
)");
  const Parsed p = parse({"run", "--config", file});
  ASSERT_EQ(p.command, Parsed::Command::run);
  const auto& o = p.run;
  EXPECT_EQ(o.workers, 4u);
  ASSERT_EQ(o.listen.size(), 2u);
  EXPECT_EQ(o.listen[0].port, 8000);
  EXPECT_EQ(o.listen[1].name, "api");
  EXPECT_EQ(o.listen[1].path, "/tmp/cppcluster-x.sock");
  EXPECT_EQ(o.ready.kind, cppcluster::ReadyMode::Kind::notify);
  EXPECT_EQ(o.graceful_timeout, 10s);
  EXPECT_EQ(o.ready_timeout, 5s);
  EXPECT_EQ(o.stop_signal, SIGINT);
  EXPECT_EQ(o.reload_batch, 2u);
  EXPECT_EQ(o.watchdog, 1500ms);
  EXPECT_EQ(o.log_format, cppcluster::LogFormat::json);
  EXPECT_EQ(o.log_file, "/tmp/app.log");
  EXPECT_EQ(o.admin_port, 9100);
  EXPECT_EQ(o.command, (std::vector<std::string>{"true", "--flag", "arg with spaces"}));
}

// Verifies that the command line wins: a scalar option, a repeatable one (its values replace
// the file's, not add to them) and the PROGRAM after -- over the file's command.
TEST(CppclusterConfig, CommandLineWinsOverTheFile) {
  ConfigDir d;
  const std::string file = d.write(R"(workers = 4
listen = ["tcp://127.0.0.1:8000", "tcp://127.0.0.1:8001"]
graceful-timeout = "10s"
command = ["false"]
)");
  const Parsed p = parse({"run", "--workers", "2", "--config", file, "--listen", "tcp://127.0.0.1:9000", "--", "true", "x"});
  EXPECT_EQ(p.run.workers, 2u);
  ASSERT_EQ(p.run.listen.size(), 1u);
  EXPECT_EQ(p.run.listen[0].port, 9000);
  EXPECT_EQ(p.run.graceful_timeout, 10s);  // not on the command line: the file's
  EXPECT_EQ(p.run.command, (std::vector<std::string>{"true", "x"}));
}

// Verifies that each mistake in a file is a UsageError naming the file, the line and the key
// (or line and column for a TOML syntax error), with what is wrong.
TEST(CppclusterConfig, MistakesNameFileLineAndKey) {
  ConfigDir d;
  struct Case {
    const char* text;
    std::string says;  // after "FILE:"
  };
  const std::vector<Case> cases = {
      {"workers = 2\nwrokers = 4\n", "2: wrokers: unknown key (the keys: "},
      {"workers = \"4\"\n", "1: workers: expected an integer, got a string"},
      {"\n\nlisten = [1, 2]\n", "3: listen: expected an array of strings, got an array"},
      {"listen = \"tcp://127.0.0.1:1\"\nready = 1\n", "2: ready: expected a string, got an integer"},
      {"graceful-timeout = 1.5\n", "1: graceful-timeout: expected a duration"},
      {"graceful-timeout = \"3x\"\n", "1: graceful-timeout: bad duration '3x'"},
      {"workers = 0\n", "1: workers: "},
      {"workers = 5000\n", "1: workers: "},
      {"ready = \"maybe\"\n", "1: ready: 'maybe' is not port, notify or delay:MS"},
      {"listen = [\"tcp://127.0.0.1:1\", \"ftp://x:1\"]\n", "1: listen: bad --listen ftp://x:1: expected tcp://HOST:PORT"},
      {"stop-signal = \"NOPE\"\n", "1: stop-signal: 'NOPE' is not a signal"},
      {"admin = \"nope\"\n", "1: admin: 'nope': expected HOST:PORT"},
      {"log-format = \"xml\"\n", "1: log-format: "},
      {"[run]\nworkers = 2\n", "1: run: unknown key"},
      {"config = \"other.toml\"\n", "1: config: unknown key"},
      {"workers = \n", "1:"},
      {"workers = 2\nworkers = 3\n", "2:"},
  };
  for (const auto& c : cases) {
    const std::string file = d.write(c.text);
    const std::string msg = usage_error({"run", "--config", file, "--", "true"});
    EXPECT_EQ(msg.rfind(file + ":" + c.says, 0), 0u) << c.text << "\n -> " << msg;
  }
  const std::string missing = usage_error({"run", "--config", d.dir + "/none.toml", "--", "true"});
  EXPECT_NE(missing.find("cannot read --config " + d.dir + "/none.toml"), std::string::npos) << missing;
  // A bad value the command line overrides is never looked at.
  const std::string file = d.write("graceful-timeout = \"10s\"\nworkers = 0\n");
  EXPECT_EQ(usage_error({"run", "--config", file, "--workers", "3", "--", "true"}), "");
}

// Verifies the typing of keys from any CLI11 option: a flag takes true or false, a repeatable
// option an array (or one string), type name N an integer, DURATION a string or seconds.
TEST(CppclusterConfig, KeysAreTypedFromTheirOptions) {
  CLI::App app;
  bool flag = true;
  std::vector<std::string> many;
  unsigned n = 0;
  std::string dur, text;
  app.add_flag("--flag", flag);
  app.add_option("--many", many);
  app.add_option("--count", n)->type_name("N");
  app.add_option("--dur", dur)->type_name("DURATION");
  app.add_option("--text", text);
  const auto keys = cppcluster::config_keys(app);
  EXPECT_EQ(keys.at("flag"), cppcluster::ConfigType::boolean);
  EXPECT_EQ(keys.at("many"), cppcluster::ConfigType::strings);
  EXPECT_EQ(keys.at("count"), cppcluster::ConfigType::integer);
  EXPECT_EQ(keys.at("dur"), cppcluster::ConfigType::duration);
  EXPECT_EQ(keys.at("text"), cppcluster::ConfigType::string);
  EXPECT_EQ(keys.at("command"), cppcluster::ConfigType::strings);
  EXPECT_EQ(keys.count("help"), 0u);

  ConfigDir d;
  const std::string file = d.write("flag = false\nmany = \"one\"\ncount = 7\ndur = 30\ntext = \"t\"\ncommand = [\"a\"]\n");
  std::vector<std::string> argv{"app"};
  app.parse(static_cast<int>(argv.size()), std::vector<char*>{argv[0].data()}.data());
  std::vector<std::string> command;
  cppcluster::apply_config_file(app, file, command);
  EXPECT_FALSE(flag);
  EXPECT_EQ(many, std::vector<std::string>{"one"});
  EXPECT_EQ(n, 7u);
  EXPECT_EQ(dur, "30");
  EXPECT_EQ(text, "t");
  EXPECT_EQ(command, std::vector<std::string>{"a"});
  EXPECT_THROW(cppcluster::apply_config_file(app, d.write("flag = 1\n"), command), UsageError);
}

// Verifies that --watchdog takes a duration, is off by default, and needs --ready notify (a
// worker has nowhere to send WATCHDOG=1 otherwise), from the command line as from a file.
TEST(CppclusterConfig, WatchdogNeedsReadyNotify) {
  EXPECT_EQ(parse({"run", "--", "true"}).run.watchdog, 0ms);
  EXPECT_EQ(parse({"run", "--ready", "notify", "--watchdog", "2s", "--", "true"}).run.watchdog, 2000ms);
  EXPECT_NE(usage_error({"run", "--watchdog", "2s", "--", "true"}).find("--watchdog: needs --ready notify"),
            std::string::npos);
  EXPECT_NE(usage_error({"run", "--ready", "notify", "--watchdog", "soon", "--", "true"}).find("bad duration"),
            std::string::npos);
  ConfigDir d;
  EXPECT_NE(usage_error({"run", "--config", d.write("watchdog = \"2s\"\n"), "--", "true"}).find("needs --ready notify"),
            std::string::npos);
  EXPECT_EQ(usage_error({"run", "--config", d.write("watchdog = \"2s\"\nready = \"notify\"\n"), "--", "true"}), "");
}

// Verifies the file through the real command: `cppcluster run --config FILE` with no PROGRAM on
// the command line runs the file's command as the file's number of workers on its address, and
// a file with a bad line exits 2 with FILE:LINE: KEY on stderr before anything starts.
TEST(CppclusterConfig, TheCommandRunsFromTheFileAlone) {
  ConfigDir d;
  const std::string good = d.write(std::string("workers = 2\nlisten = [\"web=tcp://127.0.0.1:0\"]\n") +
                                   "graceful-timeout = 20\ncommand = [\"" PYTHON3 "\", \"" TEST_SERVER "\"]\n");
  child_lines::Child sup(CPPCLUSTER_BIN, {}, {"run", "--config", good});
  EXPECT_FALSE(sup.wait_for("listening on tcp://127\\.0\\.0\\.1:\\d+ \\(web\\)").empty()) << sup.output();
  ASSERT_FALSE(sup.wait_for("\\] serving pid=\\d+ listen_pid=\\d+", 2).empty()) << sup.output();
  EXPECT_EQ(cppcluster_test::signal_and_wait(sup, SIGTERM), 0) << sup.output();
  EXPECT_NE(sup.output().find("stopping gracefully (at most 20000 ms)"), std::string::npos) << sup.output();

  const std::string bad = d.write("workers = 2\n\nready = \"soon\"\ncommand = [\"true\"]\n");
  child_lines::Child fails(CPPCLUSTER_BIN, {}, {"run", "--config", bad});
  std::string where = bad + ":3: ready: ";
  for (const char* c : {".", "+"}) where = std::regex_replace(where, std::regex(std::string("\\") + c), std::string("\\") + c);
  EXPECT_FALSE(fails.wait_for("^cppcluster: " + where, 1, 30s).empty()) << fails.output();
  const int status = fails.wait_exit(30s);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 2) << fails.output();
}

// Verifies that `run --help` documents this part as a man page would: the options, a section
// each for the watchdog, the logs and the config file, USR1 among the signals, and examples.
TEST(CppclusterConfig, HelpDescribesWatchdogLogsAndConfigFile) {
  child_lines::Child help(CPPCLUSTER_BIN, {}, {"run", "--help"});
  ASSERT_FALSE(help.wait_for("^EXAMPLES$", 1, 30s).empty()) << help.output();
  EXPECT_EQ(help.wait_exit(30s), 0);
  const std::string out = help.output();
  for (const char* s : {"--watchdog DURATION", "--log-file PATH", "--log-format", "--config FILE",
                        "WATCHDOG (--watchdog DURATION, with --ready notify)", "WATCHDOG_PID", "WATCHDOG=trigger",
                        "LOGS (--log-file PATH, --log-format text|json)", "\"source\":\"cppcluster\"",
                        "USR1      reopen --log-file", "CONFIG FILE (--config FILE)", "command = [\"python3\", \"app.py\"]",
                        "cppcluster run --config /etc/app/cppcluster.toml", "--log-format json \\",
                        "--ready notify --watchdog 10s"}) {
    EXPECT_NE(out.find(s), std::string::npos) << s;
  }
}

}  // namespace
