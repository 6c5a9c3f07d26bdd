// Forks one worker, exchanges a message, and exits 0 once the worker has left.
#include <cluster/cluster.hpp>

#include <cstdio>

int main() {
  using namespace cluster;
  if (is_primary()) {
    auto w = cluster::fork();
    w->on(ev::message, [w](const Message& m) {
      std::printf("consumer primary got %s\n", m.dump().c_str());
      w->disconnect();
    });
    w->send("ping");
  } else {
    worker().on(ev::message, [](const Message& m) { worker().send({{"echo", m}}); });
  }
  return run();
}
