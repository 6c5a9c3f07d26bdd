// setup_primary: changing how later forks start workers (Node docs, cluster.setupPrimary()).
//
// The first worker is forked with args {"--use", "https"} and silent, so its stdout comes to the
// primary through worker->process().stdout_stream(); the second with args {"--use", "http"}.
// setup_primary() merges into the current settings, so silent is still true for the second
// worker (Node does the same), and its output is read the same way. cluster.on('setup') shows the
// settings of each call; fork() calls setup_primary() itself, as Node's does, so each fork adds
// one more setup event. Each worker prints its argv and disconnects itself.
//
//   build/examples/setup_primary
//
// Prints:
//   setup: args = --use https, silent = true      (setup_primary)
//   setup: args = --use https, silent = true      (the fork() after it)
//   setup: args = --use http, silent = true
//   setup: args = --use http, silent = true
//   [worker #1 stdout] argv: .../setup_primary --use https
//   [worker #2 stdout] argv: .../setup_primary --use http
#include <cluster/cluster.hpp>

#include <cstdio>
#include <memory>
#include <string>

using namespace cluster;

namespace {

// Prints the worker's output with a prefix on each line.
void read_stdout(const std::shared_ptr<Worker>& w) {
  w->process().stdout_stream()->on(ev::data, [id = w->id()](std::string_view chunk) {
    while (!chunk.empty()) {
      auto nl = chunk.find('\n');
      auto line = chunk.substr(0, nl);
      std::printf("[worker #%d stdout] %.*s\n", id, static_cast<int>(line.size()), line.data());
      chunk.remove_prefix(nl == std::string_view::npos ? chunk.size() : nl + 1);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (is_primary()) {
    on(ev::setup, [](const Settings& s) {
      std::string args;
      for (const auto& a : s.args.value_or(std::vector<std::string>{})) args += (args.empty() ? "" : " ") + a;
      std::printf("setup: args = %s, silent = %s\n", args.c_str(), s.silent.value_or(false) ? "true" : "false");
    });

    setup_primary({.args = {"--use", "https"}, .silent = true});
    read_stdout(cluster::fork());  // https worker

    setup_primary({.args = {"--use", "http"}});
    read_stdout(cluster::fork());  // http worker
  } else {
    std::string line = "argv:";
    for (int i = 0; i < argc; ++i) line += std::string(" ") + argv[i];
    std::printf("%s\n", line.c_str());
    worker().disconnect();
  }
  return run();
}
