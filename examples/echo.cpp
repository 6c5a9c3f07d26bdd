// echo: messages both ways (Node docs, worker.send()).
//
// The primary sends 'hi there' and a JSON object; the worker sends every message back with
// cluster::worker().send(). The primary prints what comes back and, once both replies are in,
// disconnects the worker so the program ends.
//
//   build/examples/echo
//
// Prints:
//   primary got back: "hi there"
//   primary got back: {"cmd":"greet","from":"primary","n":[1,2,3]}
//   worker #1 exited with code 0
#include <cluster/cluster.hpp>

#include <cstdio>

using namespace cluster;

int main() {
  if (is_primary()) {
    auto w = cluster::fork();
    w->on(ev::message, [w = w.get(), replies = 0](const Message& m) mutable {
      std::printf("primary got back: %s\n", m.dump().c_str());
      if (++replies == 2) w->disconnect();
    });
    w->on(ev::exit, [id = w->id()](int code) { std::printf("worker #%d exited with code %d\n", id, code); });
    // Sent before the worker is up: messages wait in the channel, as in Node.
    w->send("hi there");
    w->send({{"cmd", "greet"}, {"from", "primary"}, {"n", {1, 2, 3}}});
  } else {
    worker().on(ev::message, [](const Message& m) { worker().send(m); });
  }
  return run();
}
