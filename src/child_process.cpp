#include "child_process.hpp"

#include "ipc/handle_wire.hpp"
#include "stream_impl.hpp"
#include "ipc/ring.hpp"
#include "uv/handle.hpp"
#include "uv/tick.hpp"
#include "wire.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace cluster {

struct ChildProcess::Impl {
  uv::Handle<uv_process_t> proc;
  std::unique_ptr<ipc::Target> target;
  std::vector<std::unique_ptr<Stream>> stdio;
  std::function<void(Message&&, Handle&)> internal;
  ChildProcess* owner = nullptr;
  // An exit seen while the channel was still open: emitted once the channel's end is read.
  std::function<void()> pending_exit;
  uv::Handle<uv_timer_t> exit_guard;

  // Emits a pending exit now (the channel has ended, or the guard ran out).
  void flush_exit();
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

void ChildProcess::Impl::flush_exit() {
  exit_guard.close();
  if (auto fn = std::move(pending_exit)) {
    pending_exit = nullptr;
    fn();
  }
}

ChildProcess::ChildProcess() : impl_(std::make_unique<Impl>()) { impl_->owner = this; }

ChildProcess::~ChildProcess() {
  *impl_->alive = false;
  // A process still running keeps running; only our handle on it goes (as when Node exits).
  impl_->proc.close();
}

bool ChildProcess::connected() const noexcept { return impl_->target && impl_->target->connected(); }

bool ChildProcess::kill(int sig) {
  if (!impl_->proc.valid() || exit_code_ || signal_code_) return false;
  int rc = uv_process_kill(impl_->proc.get(), sig);
  if (rc == UV_ESRCH) return false;
  if (rc != 0) {
    emit(ev::error, std::system_error(uv_error(rc), "kill"));
    return false;
  }
  return true;
}

void ChildProcess::disconnect() {
  if (impl_->target) impl_->target->disconnect();
}

std::size_t ChildProcess::stdio_count() const { return impl_->stdio.size(); }

Stream* ChildProcess::stdio(std::size_t index) const {
  if (index >= impl_->stdio.size()) return nullptr;
  return impl_->stdio[index].get();
}

namespace detail {

ipc::Target* ChildProcessAccess::target(ChildProcess& p) { return p.impl_->target.get(); }

void ChildProcessAccess::on_internal(ChildProcess& p, std::function<void(Message&&, Handle&)> fn) {
  p.impl_->internal = std::move(fn);
}

std::unique_ptr<ChildProcess> ChildProcessAccess::spawn(const SpawnOptions& o) {
  int ipc_index = -1;
  for (std::size_t i = 0; i < o.stdio.size(); ++i) {
    if (o.stdio[i].kind == Stdio::Kind::ipc) {
      if (ipc_index >= 0) throw std::invalid_argument("stdio: only one 'ipc' entry is allowed (ERR_IPC_ONE_PIPE)");
      ipc_index = static_cast<int>(i);
    }
  }
  if (ipc_index < 0) {
    throw std::invalid_argument("stdio: an 'ipc' entry is required (ERR_CHILD_PROCESS_IPC_REQUIRED)");
  }

  std::unique_ptr<ChildProcess> cp(new ChildProcess());
  ChildProcess::Impl& impl = *cp->impl_;
  cp->spawnfile_ = o.file;
  cp->spawnargs_ = o.args;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = -errno;
    cp->exit_code_ = err;
    auto alive = impl.alive;
    ChildProcess* raw = cp.get();
    uv::next_tick([raw, alive, err] {
      if (*alive) raw->emit(ev::error, std::system_error(uv_error(err), "socketpair"));
    });
    return cp;
  }
  impl.target = std::make_unique<ipc::Target>(sv[0], o.serialization, o.max_frame);
  impl.target->channel().set_busy_poll(o.busy_poll_us);
  impl.target->channel().set_max_held_fds(o.max_held_fds);
  impl.target->set_max_queued_bytes(o.max_queued_bytes);

  std::vector<uv_stdio_container_t> containers(o.stdio.size());
  impl.stdio.resize(o.stdio.size());
  for (std::size_t i = 0; i < o.stdio.size(); ++i) {
    auto& c = containers[i];
    switch (o.stdio[i].kind) {
      case Stdio::Kind::ipc:
        c.flags = UV_INHERIT_FD;
        c.data.fd = sv[1];
        break;
      case Stdio::Kind::pipe: {
        auto si = std::make_unique<Stream::Impl>();
        uv_pipe_init(uv::loop(), si->pipe.get(), 0);
        si->pipe.initialized();
        Stream::Impl* raw = si.get();
        impl.stdio[i] = std::make_unique<Stream>(std::move(si));
        raw->pipe.get()->data = raw;
        c.flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE);
        c.data.stream = reinterpret_cast<uv_stream_t*>(raw->pipe.get());
        break;
      }
      case Stdio::Kind::ignore: c.flags = UV_IGNORE; break;
      case Stdio::Kind::inherit:
        c.flags = UV_INHERIT_FD;
        c.data.fd = static_cast<int>(i);
        break;
      case Stdio::Kind::fd:
        c.flags = UV_INHERIT_FD;
        c.data.fd = o.stdio[i].fd;
        break;
    }
  }

  std::vector<std::string> env = o.env;
  // Rings: the child inherits the mapping at the first descriptor after its stdio (a failure to
  // make one leaves the channel on the socket alone).
  std::unique_ptr<ipc::RingPair> rings;
  if (o.rings && o.busy_poll_us > 0) rings = ipc::RingPair::create();
  if (rings) {
    uv_stdio_container_t c{};
    c.flags = UV_INHERIT_FD;
    c.data.fd = rings->fd();
    env.push_back(std::string(wire::env_ring_fd) + "=" + std::to_string(containers.size()));
    containers.push_back(c);
  }
  env.push_back(std::string(wire::env_channel_fd) + "=" + std::to_string(ipc_index));
  env.push_back(std::string(wire::env_serialization) + "=" +
                (o.serialization == Serialization::advanced ? "advanced" : "json"));
  std::vector<char*> argv, envp;
  for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  uv_process_options_t po{};
  po.file = o.file.c_str();
  po.args = argv.data();
  po.env = envp.data();
  po.cwd = o.cwd ? o.cwd->c_str() : nullptr;
  po.stdio_count = static_cast<int>(containers.size());
  po.stdio = containers.data();
  if (o.uid) {
    po.flags |= UV_PROCESS_SETUID;
    po.uid = *o.uid;
  }
  if (o.gid) {
    po.flags |= UV_PROCESS_SETGID;
    po.gid = *o.gid;
  }
  if (o.windows_hide) po.flags |= UV_PROCESS_WINDOWS_HIDE;
  po.exit_cb = [](uv_process_t* h, int64_t status, int term_signal) {
    auto* self = static_cast<ChildProcess*>(h->data);
    if (!self) return;
    uv::CallbackScope scope;
    self->impl_->proc.close();
    auto finish = [self, status, term_signal] {
      std::string_view sig;
      if (term_signal != 0) {
        sig = signal_name(term_signal);
        self->signal_code_ = std::string(sig);
      } else {
        self->exit_code_ = static_cast<int>(status);
      }
      self->emit(ev::exit, static_cast<int>(status), sig);
    };
    ChildProcess::Impl& ci = *self->impl_;
    if (!ci.target || !ci.target->connected()) return finish();
    // The child closed its channel before it exited, but the end of the channel may still wait
    // unread behind its last frames while the exit is seen in the same poll: Node's order
    // (disconnect, then exit) is kept by waiting for that end. A channel that outlives the
    // process (a grandchild holding it) lets the exit go after a second.
    ci.pending_exit = std::move(finish);
    if (uv_timer_init(uv::loop(), ci.exit_guard.get()) != 0) return ci.flush_exit();
    ci.exit_guard.initialized();
    ci.exit_guard.get()->data = &ci;
    uv_timer_start(
        ci.exit_guard.get(),
        [](uv_timer_t* t) {
          uv::CallbackScope scope;
          static_cast<ChildProcess::Impl*>(t->data)->flush_exit();
        },
        1000, 0);
  };

  int rc = uv_spawn(uv::loop(), impl.proc.get(), &po);
  ::close(sv[1]);
  if (rings) {
    rings->close_fd();
    if (rc == 0) impl.target->channel().use_rings(std::move(rings), true);
  }
  if (rc != 0) {
    // libuv leaves the handle unusable but it still has to be closed (uv_spawn's contract).
    impl.proc.initialized();
    impl.proc.close();
    for (auto& s : impl.stdio) {
      if (s) s->destroy();
    }
    cp->exit_code_ = rc;
    auto alive = impl.alive;
    ChildProcess* raw = cp.get();
    std::string what = "spawn " + o.file;
    uv::next_tick([raw, alive, rc, what] {
      if (*alive) raw->emit(ev::error, std::system_error(uv_error(rc), what));
    });
  } else {
    impl.proc.initialized();
    impl.proc.get()->data = cp.get();
    cp->pid_ = impl.proc.get()->pid;
  }

  ChildProcess* raw = cp.get();
  impl.target->start({
      [raw](Message&& m, Handle& h) { raw->emit(ev::message, static_cast<const Message&>(m), h); },
      [raw](Message&& m, Handle& h) {
        if (raw->impl_->internal) raw->impl_->internal(std::move(m), h);
      },
      [raw] {
        raw->emit(ev::disconnect);
        raw->impl_->flush_exit();
      },
      [raw](const std::system_error& e) { raw->emit(ev::error, e); },
  });
  return cp;
}

}  // namespace detail
}  // namespace cluster
