// `cppcluster run --config FILE`: run's options from a TOML file, under their long names
// (workers = 4, listen = ["tcp://127.0.0.1:8000", "api=unix:/tmp/x"], ready = "notify",
// graceful-timeout = "10s", command = ["python3", "app.py"]). The command line wins over the file;
// every mistake in the file is a UsageError (exit 2) naming the file, the line and the key.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace CLI { class App; }

namespace cppcluster {

// What a key's value must be in the file.
enum class ConfigType {
  string,
  integer,
  boolean,
  duration,  // a string as on the command line ("10s", "500ms") or a whole number of seconds
  strings,   // an array of strings (or one string: an array of one)
};

// One key = value of the file, its value spelled as on the command line.
struct ConfigEntry {
  std::string key;
  std::vector<std::string> values;  // one for a scalar, one an element for an array
  long line = 0;
};

// Parses the TOML file at path: its top-level keys, in file order. Throws UsageError "PATH:LINE:
// KEY: ..." for a key not in types (listing them) or a value not of its type, "PATH:LINE:COLUMN:
// ..." for a TOML syntax error, and "cannot read PATH: ..." when it cannot be read.
std::vector<ConfigEntry> read_config_file(const std::string& path, const std::map<std::string, ConfigType>& types);

// The keys `run` takes from a file: every long option of run but --help and --config, typed from
// the option (a flag is a boolean, a repeatable option strings, type name N an integer, DURATION
// a duration, anything else a string), and command.
std::map<std::string, ConfigType> config_keys(const CLI::App& run);

// Reads the file at path and gives each of its keys to run's option of that name, unless the
// command line gave that option (CLI11's own conversion and checks run, and the values of
// --listen, --ready, --stop-signal, --admin and durations are checked as the command line's
// are); command fills command when the command line gave no PROGRAM. Throws UsageError "PATH:
// LINE: KEY: ..." for the first bad entry (and as read_config_file).
void apply_config_file(CLI::App& run, const std::string& path, std::vector<std::string>& command);

}  // namespace cppcluster
