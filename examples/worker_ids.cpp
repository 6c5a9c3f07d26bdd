// worker_ids: which process am I? (Node docs, cluster.worker).
//
// The same program runs as the primary and as each worker: is_primary() is true when
// NODE_UNIQUE_ID is not in the environment. The primary forks two workers; each prints its id and
// disconnects itself, so it exits and the primary, with nothing left to wait for, ends too.
//
//   build/examples/worker_ids
//
// Prints (the workers in either order):
//   I am primary
//   I am worker #1
//   I am worker #2
#include <cluster/cluster.hpp>

#include <cstdio>

using namespace cluster;

int main() {
  if (is_primary()) {
    std::printf("I am primary\n");
    std::fflush(stdout);  // before the workers write to the same stdout
    cluster::fork();
    cluster::fork();
  } else {
    std::printf("I am worker #%d\n", worker().id());
    // A Node worker stays alive while its channel is open; closing it lets this one end.
    worker().disconnect();
  }
  return run();
}
