// The workers' stdout and stderr as the supervisor reads them: split into lines and handed to
// the LogSink (log_sink.hpp) with the worker's id and pid. A pipe is read to its end, past the
// worker's exit (its last lines are often still in the pipe then), so that nothing a worker
// wrote is lost, also when the supervisor stops right after its workers.
#pragma once

#include "log_sink.hpp"
#include "logs.hpp"

#include "cluster/cluster.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace cppcluster {

class WorkerOutputs {
 public:
  // linger: how long a pipe may stay open after its worker's exit (a descendant of the worker
  // may hold it) before it is no longer read.
  explicit WorkerOutputs(std::chrono::milliseconds linger = std::chrono::seconds(2)) : linger_(linger) {}
  WorkerOutputs(const WorkerOutputs&) = delete;
  WorkerOutputs& operator=(const WorkerOutputs&) = delete;
  // Stops reading every pipe (what is left of a last unterminated line is written).
  ~WorkerOutputs();

  // Reads w's stdout and stderr pipes (those it has) until they end.
  void attach(cluster::Worker& w);
  // Worker id has exited: its pipes are read until they end, or linger at the most.
  void exited(int id);
  // Calls done once every pipe attached so far has ended or been given up (at once when none is
  // open). A second call replaces the first's callback.
  void when_drained(std::function<void()> done);

 private:
  struct Entry {
    std::shared_ptr<cluster::Worker> worker;  // keeps its pipes alive until they end
    int pid = 0;
    std::unique_ptr<LineSplitter> out, err;
    std::vector<std::pair<cluster::Stream*, cluster::listener_id>> listeners;
    int open = 0;
    cluster::Timer linger;
  };
  void follow(int id, Entry& e, cluster::Stream* s, OutStream which);
  // Writes e's unterminated lines and stops reading its pipes.
  static void close_entry(Entry& e);
  // Drops entry id after the current event (its pipe may be the one emitting now).
  void drop_later(int id);
  void drop_now();

  std::chrono::milliseconds linger_;
  std::map<int, Entry> entries_;
  std::vector<int> to_drop_;
  cluster::Timer dropping_;
  std::function<void()> drained_;
};

}  // namespace cppcluster
