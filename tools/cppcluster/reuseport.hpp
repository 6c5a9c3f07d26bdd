// `cppcluster run --reuseport`: each worker gets its own SO_REUSEPORT socket on every --listen
// address (the kernel spreads new connections and datagrams over them), made by the supervisor
// and passed to the worker's exec shim before the exec, so the program still finds it at fd 3..
// with LISTEN_FDS. The supervisor keeps a dup of every member, for two reasons:
// - a retiring worker is drained before it is told to stop: a socket of the group that closes
//   with connections in its accept queue resets them (unless net.ipv4.tcp_migrate_req is on), so
//   the supervisor first keeps new connections off it with a classic BPF program on the group
//   (SO_ATTACH_REUSEPORT_CBPF: a random pick among the other members), waits until its queue is
//   empty, and only then sends the stop signal;
// - the kernel's order of a group's sockets (what such a program's index means) is known only
//   when the supervisor alone adds (listen/bind) and removes (the last close) them.
#pragma once

#include "listen.hpp"

#include "cluster/timer.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace cppcluster {

// The members of the reuseport groups, one group per --listen address.
class ReuseportGroups {
 public:
  // Groups on the placeholders' addresses (bind_all with Sharing::reuseport). backlog: of the
  // members' listen().
  ReuseportGroups(const std::vector<BoundSocket>& placeholders, int backlog);
  ReuseportGroups(const ReuseportGroups&) = delete;
  ReuseportGroups& operator=(const ReuseportGroups&) = delete;
  // Closes every member still held.
  ~ReuseportGroups();

  // Opens worker id's own socket on every address (listening for TCP) and returns them in
  // --listen order, still held here (send, don't close). Throws std::system_error naming the
  // address when one cannot be bound; the ones opened before are closed then.
  std::vector<int> add(int id);
  // Keeps new connections off worker id's sockets, then calls done (on the loop) once their
  // queues stayed empty for two checks 20 ms apart, or after max_wait. done at once when the
  // worker has no socket here or steering is impossible (the group's other members are all
  // retiring, or the kernel refused the program).
  void drain(int id, std::chrono::milliseconds max_wait, std::function<void()> done);
  // Closes worker id's sockets (it exited): the members' order is updated as the kernel does it.
  void remove(int id);

  // Every group's members in the kernel's order: (fd, worker id; 0 for the UDP placeholder).
  std::vector<std::vector<std::pair<int, int>>> members() const;
  // After a re-exec: the groups as the previous image left them, members given as (fd, id),
  // its workers under ids of their own (the supervisor uses -pid); replaces what is known.
  void adopt(const std::vector<std::vector<std::pair<int, int>>>& groups);

  // True when fd's receive queue (the accept queue of a listening TCP socket) is empty.
  static bool queue_empty(int fd, bool stream);

 private:
  struct Member {
    int fd = -1;
    int id = 0;          // 0: the UDP placeholder (in the group, never picked)
    bool retiring = false;
  };
  struct Group {
    BoundSocket address;  // the placeholder
    std::vector<Member> order;  // the kernel's order
  };
  struct Drain;
  // Attaches the program picking among the non-retiring members but those at the indices in
  // skip; detaches any program when none is retiring and skip is empty. False when it could not.
  bool steer(Group& g, const std::vector<std::size_t>& skip = {});

  std::vector<Group> groups_;
  int backlog_;
  std::map<int, std::shared_ptr<Drain>> drains_;
};

}  // namespace cppcluster
