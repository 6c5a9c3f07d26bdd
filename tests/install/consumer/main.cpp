// Says which cppcluster and C++ version it was built with, forks one worker, exchanges a message,
// and exits 0 once the worker has left.
#include <cluster/cluster.hpp>
#include <cluster/version.hpp>

#include <cstdio>
#include <string>

static_assert(CPPCLUSTER_VERSION ==
              CPPCLUSTER_VERSION_MAJOR * 10000 + CPPCLUSTER_VERSION_MINOR * 100 + CPPCLUSTER_VERSION_PATCH);

int main() {
  using namespace cluster;
  if (is_primary()) {
    std::printf("consumer cppcluster %s (%s), __cplusplus %ld\n", std::string(version()).c_str(),
                CPPCLUSTER_VERSION_STRING, static_cast<long>(__cplusplus));
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
