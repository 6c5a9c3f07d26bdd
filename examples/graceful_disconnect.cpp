// The worker.disconnect() example of Node's cluster documentation: the primary asks the worker
// to shut down, disconnects it, and kills it if it has not disconnected within 2 seconds. The
// worker's server has a connection that never ends by itself (the primary opens it); on
// 'shutdown' the worker ends it, so the disconnect completes. IGNORE_SHUTDOWN=1 makes the worker
// ignore the request, to show the timeout. PORT chooses the port (default: any free port).
#include <cluster/cluster.hpp>
#include <cluster/net.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cluster::is_primary()) {
    auto worker = cluster::fork();
    static cluster::Timer timeout;
    static std::shared_ptr<cluster::net::Socket> client;
    worker->on(cluster::ev::listening, [w = worker.get()](const cluster::Address& address) {
      std::printf("primary: worker %d listening on port %d; opening a long-lived connection\n", w->id(), address.port);
      client = cluster::net::Socket::connect(address.port, "127.0.0.1");
      client->on(cluster::ev::close, [] { std::printf("primary: the worker ended our connection\n"); });
      client->once(cluster::ev::data, [w](std::string_view) {
        // The worker has the connection: now ask it to shut down and disconnect it.
        std::printf("primary: sending 'shutdown' and disconnecting\n");
        w->send("shutdown");
        w->disconnect();
        timeout = cluster::set_timeout([w] {
          std::printf("primary: no disconnect after 2 s, killing the worker\n");
          w->kill();
        }, std::chrono::seconds(2));
      });
    });
    worker->on(cluster::ev::disconnect, [] {
      std::printf("primary: worker disconnected\n");
      timeout.cancel();
      if (client) client->destroy();
    });
    worker->on(cluster::ev::exit, [](int code, std::string_view signal) {
      std::printf("primary: worker exited (%s)\n", signal.empty() ? std::to_string(code).c_str() : std::string(signal).c_str());
      timeout.cancel();
    });
  } else {
    static std::set<std::shared_ptr<cluster::net::Socket>> open;
    auto server = cluster::net::create_server([](const std::shared_ptr<cluster::net::Socket>& s) {
      // The connection does not end by itself.
      open.insert(s);
      s->on(cluster::ev::close, [raw = s.get()] {
        for (auto it = open.begin(); it != open.end(); ++it) {
          if (it->get() == raw) {
            open.erase(it);
            break;
          }
        }
      });
      s->write("hello from the worker\n");
    });
    const char* port = std::getenv("PORT");
    server->listen(port ? std::atoi(port) : 0);
    const bool ignore = std::getenv("IGNORE_SHUTDOWN") && std::string(std::getenv("IGNORE_SHUTDOWN")) == "1";
    cluster::worker().on(cluster::ev::message, [ignore](const cluster::Message& msg) {
      if (msg == "shutdown" && !ignore) {
        std::printf("worker: closing %zu connection(s) gracefully\n", open.size());
        auto copy = open;
        for (auto& s : copy) s->end("bye\n");
      }
    });
  }
  return cluster::run();
}
