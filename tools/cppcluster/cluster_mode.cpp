#include "cluster_mode.hpp"

#include "logs.hpp"

#include "cluster/cluster.hpp"

#include <memory>
#include <string>

namespace cppcluster {

void set_cluster_mode_policy(const RunOptions& o) {
  cluster::set_scheduling_policy(o.reuseport ? cluster::sched_reuseport : cluster::sched_rr);
}

void setup_cluster_mode(const RunOptions& o, cluster::PoolOptions& po) {
  using namespace std::chrono_literals;
  std::vector<std::string> args(o.command.begin() + 1, o.command.end());
  cluster::setup_primary({.exec = o.command.front(),
                          .args = args,
                          .stdio = std::vector<cluster::Stdio>{cluster::Stdio::ignore(), cluster::Stdio::pipe(),
                                                               cluster::Stdio::pipe(), cluster::Stdio::ipc()}});
  po.env.clear();  // the exec shim's variables mean nothing to a cluster worker
  po.ready_servers = 1;
  po.retire_signal = 0;  // disconnect() is the cluster's own way to retire a worker
  po.heartbeat_interval = 5s;
  po.heartbeat_timeout = 60s;
  // Held for the process's life: the servers outlive a moment without workers.
  static std::shared_ptr<void> hold = cluster::hold_servers();
  cluster::on(cluster::ev::listening, [](cluster::Worker& w, const cluster::Address& a) {
    const bool v6 = a.address_type == cluster::AddressType::tcp6 || a.address_type == cluster::AddressType::udp6;
    const bool udp = a.address_type == cluster::AddressType::udp4 || a.address_type == cluster::AddressType::udp6;
    std::string where = a.address_type == cluster::AddressType::unix_socket
                            ? "unix:" + a.address
                            : std::string(udp ? "udp://" : "tcp://") + (v6 ? "[" + a.address + "]" : a.address) + ":" +
                                  std::to_string(a.port);
    log_line("worker " + std::to_string(w.id()) + " (pid " + std::to_string(w.process().pid()) + ") listening on " + where);
  });
}

}  // namespace cppcluster
