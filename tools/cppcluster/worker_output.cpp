#include "worker_output.hpp"

#include <utility>

namespace cppcluster {

WorkerOutputs::~WorkerOutputs() {
  dropping_.cancel();
  for (auto& [id, e] : entries_) {
    e.linger.cancel();
    close_entry(e);
  }
}

void WorkerOutputs::attach(cluster::Worker& w) {
  const int id = w.id();
  Entry& e = entries_[id];
  e.worker = w.shared_from_this();
  e.pid = w.process().pid();
  const int pid = e.pid;
  e.out = std::make_unique<LineSplitter>([id, pid](std::string_view line) {
    LogSink::instance().worker_line(id, pid, OutStream::out, line);
  });
  e.err = std::make_unique<LineSplitter>([id, pid](std::string_view line) {
    LogSink::instance().worker_line(id, pid, OutStream::err, line);
  });
  follow(id, e, w.process().stdout_stream(), OutStream::out);
  follow(id, e, w.process().stderr_stream(), OutStream::err);
  if (e.open == 0) drop_later(id);
}

void WorkerOutputs::follow(int id, Entry& e, cluster::Stream* s, OutStream which) {
  if (!s || s->fd() < 0) return;
  ++e.open;
  e.listeners.emplace_back(s, s->on(cluster::ev::data, [this, id, which](std::string_view d) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    (which == OutStream::out ? it->second.out : it->second.err)->feed(d);
  }));
  // close follows the end of the pipe and a read error alike.
  e.listeners.emplace_back(s, s->on(cluster::ev::close, [this, id] {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.open == 0) return;
    if (--it->second.open == 0) drop_later(id);
  }));
}

void WorkerOutputs::exited(int id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.open == 0) return;
  it->second.linger = cluster::set_timeout([this, id] { drop_later(id); }, linger_);
}

void WorkerOutputs::close_entry(Entry& e) {
  if (e.out) e.out->flush();
  if (e.err) e.err->flush();
  for (auto& [s, l] : e.listeners) s->off(l);
  e.listeners.clear();
}

void WorkerOutputs::drop_later(int id) {
  to_drop_.push_back(id);
  if (!dropping_.active()) dropping_ = cluster::set_timeout([this] { drop_now(); }, std::chrono::milliseconds(0));
}

void WorkerOutputs::drop_now() {
  for (int id : std::exchange(to_drop_, {})) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    it->second.linger.cancel();
    close_entry(it->second);
    entries_.erase(it);
  }
  if (entries_.empty() && drained_) std::exchange(drained_, nullptr)();
}

void WorkerOutputs::when_drained(std::function<void()> done) {
  if (entries_.empty()) {
    done();
    return;
  }
  drained_ = std::move(done);
}

}  // namespace cppcluster
