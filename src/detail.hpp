// Library-internal access to Worker and the role modules (primary.cpp, child.cpp).
#pragma once

#include "cluster/cluster.hpp"

#include <memory>

namespace cluster {

namespace ipc { class Target; }

namespace detail {

struct WorkerAccess {
  static std::shared_ptr<Worker> make(int id) { return std::shared_ptr<Worker>(new Worker(id)); }
  static WorkerState& state(Worker& w) { return w.state_; }
  static std::optional<bool>& exited_after_disconnect(Worker& w) { return w.exited_after_disconnect_; }
  static std::unique_ptr<ChildProcess>& process(Worker& w) { return w.process_; }
  static ipc::Target*& target(Worker& w) { return w.target_; }
};

// Emits error on w, or hands it to the error hook when w has no error listener.
void emit_error(Worker& w, const std::system_error& e);
// Reports an error that belongs to no worker to the error hook.
void report_error(const std::system_error& e);

enum class Role { primary, worker };
// This process's role, decided once from NODE_UNIQUE_ID.
Role role();
// Throws std::logic_error unless this process has role r; what names the function.
void require_role(Role r, const char* what);

}  // namespace detail

// Role-specific halves of Worker's methods.
namespace primary {
void kill(Worker& w, int sig);
void disconnect(Worker& w);
}  // namespace primary

namespace child {
// Sets up cluster::worker() and sends online (Node's _setupWorker); idempotent.
void setup_worker();
Worker& current();
void destroy(Worker& w);
void disconnect(Worker& w);
// Node's process.disconnect(): closes the channel, no handshake.
void process_disconnect();
}  // namespace child

}  // namespace cluster
