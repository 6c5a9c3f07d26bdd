#include "config_file.hpp"

#include "listen.hpp"
#include "options.hpp"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <stdexcept>

namespace cppcluster {
namespace {

const char* type_text(ConfigType t) {
  switch (t) {
    case ConfigType::string: return "a string";
    case ConfigType::integer: return "an integer";
    case ConfigType::boolean: return "true or false";
    case ConfigType::duration: return "a duration (\"10s\", \"500ms\", \"2m\") or a number of seconds";
    case ConfigType::strings: return "an array of strings";
  }
  return "a value";
}

const char* toml_type_text(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

// The value of n as the command line would spell it, when n is of type t.
bool values_of(const toml::node& n, ConfigType t, std::vector<std::string>& out) {
  switch (t) {
    case ConfigType::string:
      if (!n.is_string()) return false;
      out.push_back(**n.as_string());
      return true;
    case ConfigType::integer:
      if (!n.is_integer()) return false;
      out.push_back(std::to_string(**n.as_integer()));
      return true;
    case ConfigType::boolean:
      if (!n.is_boolean()) return false;
      out.push_back(**n.as_boolean() ? "true" : "false");
      return true;
    case ConfigType::duration:
      if (n.is_integer()) {
        out.push_back(std::to_string(**n.as_integer()));
        return true;
      }
      return values_of(n, ConfigType::string, out);
    case ConfigType::strings:
      if (n.is_string()) return values_of(n, ConfigType::string, out);
      if (!n.is_array()) return false;
      for (const toml::node& e : *n.as_array()) {
        if (!e.is_string()) return false;
        out.push_back(**e.as_string());
      }
      return true;
  }
  return false;
}

// The checks the command line's values get after parsing (options.cpp), by key, so that a
// file's bad value is reported with its line. Each throws std::invalid_argument.
void check_value(const std::string& key, ConfigType type, const std::string& v) {
  if (type == ConfigType::duration) {
    parse_duration(key, v);
  } else if (key == "listen") {
    parse_listen(v);
  } else if (key == "ready") {
    parse_ready(v);
  } else if (key == "stop-signal") {
    parse_signal(key, v);
  } else if (key == "admin") {
    try {
      parse_listen("tcp://" + v);
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("'" + v + "': expected HOST:PORT or [IPV6]:PORT");
    }
  }
}

// CLI11's messages start with the option's name ("--workers: Value 0 not in range"); the file's
// message names the key already.
std::string without_option_name(std::string message, const std::string& key) {
  for (const std::string& name : {"--" + key + ": ", key + ": "}) {
    if (message.rfind(name, 0) == 0) message.erase(0, name.size());
  }
  return message;
}

}  // namespace

std::vector<ConfigEntry> read_config_file(const std::string& path, const std::map<std::string, ConfigType>& types) {
  std::ifstream in(path);
  if (!in) throw UsageError{"cannot read --config " + path + ": " + std::strerror(errno)};
  toml::table table;
  try {
    table = toml::parse(in, path);
  } catch (const toml::parse_error& e) {
    throw UsageError{path + ":" + std::to_string(e.source().begin.line) + ":" + std::to_string(e.source().begin.column) +
                     ": " + std::string(e.description())};
  }
  std::vector<ConfigEntry> out;
  for (const auto& [k, node] : table) {
    ConfigEntry e;
    e.key = std::string(k.str());
    e.line = static_cast<long>(k.source().begin.line);
    const std::string where = path + ":" + std::to_string(e.line) + ": " + e.key + ": ";
    auto t = types.find(e.key);
    if (t == types.end()) {
      std::string known;
      for (const auto& [name, type] : types) known += (known.empty() ? "" : ", ") + name;
      throw UsageError{where + "unknown key (the keys: " + known + ")"};
    }
    if (!values_of(node, t->second, e.values)) {
      throw UsageError{where + "expected " + type_text(t->second) + ", got " + toml_type_text(node) +
                       (node.is_array() ? " (of something else than strings)" : "")};
    }
    out.push_back(std::move(e));
  }
  // The table is sorted by key: the file's order makes "the first mistake" the first in the file.
  std::sort(out.begin(), out.end(), [](const ConfigEntry& a, const ConfigEntry& b) { return a.line < b.line; });
  return out;
}

std::map<std::string, ConfigType> config_keys(const CLI::App& run) {
  std::map<std::string, ConfigType> keys{{"command", ConfigType::strings}};
  for (const CLI::Option* o : run.get_options()) {
    if (o->get_lnames().empty()) continue;
    const std::string& name = o->get_lnames().front();
    if (name == "help" || name == "config") continue;
    ConfigType t = ConfigType::string;
    // The type name with its validators' descriptions after ':' ("N:INT in [1 - 4096]").
    const std::string full = o->get_type_name();
    const std::string type_name = full.substr(0, full.find(':'));
    if (o->get_items_expected_max() == 0) {
      t = ConfigType::boolean;
    } else if (o->get_expected_max() > 1) {
      t = ConfigType::strings;
    } else if (type_name == "N") {
      t = ConfigType::integer;
    } else if (type_name == "DURATION") {
      t = ConfigType::duration;
    }
    keys[name] = t;
  }
  return keys;
}

void apply_config_file(CLI::App& run, const std::string& path, std::vector<std::string>& command) {
  const auto keys = config_keys(run);
  for (const ConfigEntry& e : read_config_file(path, keys)) {
    if (e.key == "command") {
      if (command.empty()) command = e.values;
      continue;
    }
    CLI::Option* o = run.get_option_no_throw("--" + e.key);
    if (!o || o->count() > 0) continue;  // given on the command line: it wins
    const std::string where = path + ":" + std::to_string(e.line) + ": " + e.key + ": ";
    try {
      for (const auto& v : e.values) check_value(e.key, keys.at(e.key), v);
      o->add_result(e.values);
      o->run_callback();
    } catch (const std::invalid_argument& x) {
      throw UsageError{where + without_option_name(x.what(), e.key)};
    } catch (const CLI::Error& x) {
      throw UsageError{where + without_option_name(x.what(), e.key)};
    }
  }
}

}  // namespace cppcluster
