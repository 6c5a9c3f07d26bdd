/// @file
/// worker.process: the worker's child process as the primary sees it (Node's ChildProcess).
#pragma once

#include "cluster/emitter.hpp"
#include "cluster/events.hpp"
#include "cluster/message.hpp"

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace cluster {

namespace ipc { class Target; }
namespace detail { struct ChildProcessAccess; }

/// A pipe to or from the child (stdout, stderr, stdin, or an extra 'pipe' stdio entry). Reading
/// starts when the first data listener is added, so an unread pipe applies back-pressure to the
/// child as Node's paused streams do.
class Stream : public Emitter<Event<ev::data_t, std::string_view>, Event<ev::end_t>,
                              Event<ev::close_t>, Event<ev::error_t, const std::system_error&>> {
 public:
  /// The emitter Stream extends (on() is wrapped to start reading).
  using Base = Emitter<Event<ev::data_t, std::string_view>, Event<ev::end_t>, Event<ev::close_t>,
                       Event<ev::error_t, const std::system_error&>>;
  ~Stream();

  /// Adds a listener; a data listener starts the flow.
  template <class Tag, class F>
  listener_id on(Tag tag, F&& fn) {
    listener_id id = Base::on(tag, std::forward<F>(fn));
    if constexpr (std::is_same_v<Tag, ev::data_t>) resume();
    return id;
  }
  /// Starts reading (data events).
  void resume();
  /// Stops reading.
  void pause();
  /// Writes bytes to the child; false once the stream is closed.
  bool write(std::string_view bytes);
  /// Closes the write side after queued writes.
  void end();
  /// Closes the stream now.
  void destroy();
  /// The parent's descriptor, or -1 once closed.
  int fd() const;

  struct Impl;
  /// For the library only: a ChildProcess makes its Streams.
  explicit Stream(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

/// The child process of a worker: pid, exit status, signals, stdio pipes.
class ChildProcess : public Emitter<Event<ev::exit_t, int, std::string_view>,
                                    Event<ev::disconnect_t>,
                                    Event<ev::message_t, const Message&, Handle&>,
                                    Event<ev::error_t, const std::system_error&>> {
 public:
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  /// The process id; 0 if the process could not be started.
  int pid() const noexcept { return pid_; }
  /// The exit code once it has exited normally.
  std::optional<int> exit_code() const noexcept { return exit_code_; }
  /// The signal name ("SIGTERM") once a signal has ended it.
  std::optional<std::string> signal_code() const { return signal_code_; }
  /// True while the IPC channel is open.
  bool connected() const noexcept;
  /// Sends sig; false if the process has exited or the signal could not be sent (errno-style
  /// failure reported through the error event, as Node does).
  bool kill(int sig = SIGTERM);
  /// Closes the IPC channel (Node's subprocess.disconnect()); a cluster worker then exits 0.
  void disconnect();
  /// The executable the process was started with (Node's subprocess.spawnfile).
  const std::string& spawnfile() const noexcept { return spawnfile_; }
  /// The argv the process was started with (Node's subprocess.spawnargs).
  const std::vector<std::string>& spawnargs() const noexcept { return spawnargs_; }
  /// The pipes of 'pipe' stdio entries (silent: 0, 1, 2); nullptr for other entries.
  Stream* stdio(std::size_t index) const;
  /// The number of stdio entries the process was started with.
  std::size_t stdio_count() const;
  /// stdio(0): the worker's stdin when piped (Node's subprocess.stdin).
  Stream* stdin_stream() const { return stdio(0); }
  /// stdio(1): the worker's stdout when piped (Node's subprocess.stdout).
  Stream* stdout_stream() const { return stdio(1); }
  /// stdio(2): the worker's stderr when piped (Node's subprocess.stderr).
  Stream* stderr_stream() const { return stdio(2); }

 private:
  friend struct detail::ChildProcessAccess;
  ChildProcess();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int pid_ = 0;
  std::optional<int> exit_code_;
  std::optional<std::string> signal_code_;
  std::string spawnfile_;
  std::vector<std::string> spawnargs_;
};

/// The name of a signal number ("SIGTERM"), or "" when unknown.
std::string_view signal_name(int sig) noexcept;
/// The number of a signal name, or 0 when unknown.
int signal_number(std::string_view name) noexcept;

}  // namespace cluster
