// silent_workers: reading workers' stdout and stderr in the primary (Node docs, settings.silent).
//
// With silent set, a worker's stdin, stdout and stderr are pipes to the primary instead of the
// primary's own: worker->process().stdout_stream() and stderr_stream(). Reading starts with the
// first data listener; end comes when the worker has closed its side (here: when it exits).
// Each of two workers prints a result on stdout and a warning on stderr, then disconnects; the
// primary prefixes each line with where it came from.
//
//   build/examples/silent_workers
//
// Prints (in some order):
//   [worker 1 stdout] result: 1 squared is 1
//   [worker 1 stderr] warning: worker 1 is about to leave
//   [worker 1 stdout] (end)
//   ...
#include <cluster/cluster.hpp>

#include <cstdio>
#include <memory>
#include <string>

using namespace cluster;

namespace {

// Prints every line of stream s with a prefix naming the worker and the stream.
void read_lines(Stream* s, int id, const char* name) {
  auto buf = std::make_shared<std::string>();
  s->on(ev::data, [buf, id, name](std::string_view chunk) {
    buf->append(chunk);
    for (auto nl = buf->find('\n'); nl != std::string::npos; nl = buf->find('\n')) {
      std::printf("[worker %d %s] %s\n", id, name, buf->substr(0, nl).c_str());
      buf->erase(0, nl + 1);
    }
  });
  s->on(ev::end, [id, name] { std::printf("[worker %d %s] (end)\n", id, name); });
}

}  // namespace

int main() {
  if (is_primary()) {
    setup_primary({.silent = true});
    for (int i = 0; i < 2; ++i) {
      auto w = cluster::fork();
      read_lines(w->process().stdout_stream(), w->id(), "stdout");
      read_lines(w->process().stderr_stream(), w->id(), "stderr");
    }
  } else {
    const int id = worker().id();
    std::printf("result: %d squared is %d\n", id, id * id);
    std::fflush(stdout);
    std::fprintf(stderr, "warning: worker %d is about to leave\n", id);
    worker().disconnect();
  }
  return run();
}
