#include "round_robin_handle.hpp"
#include "uv/tick.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace cluster {

RoundRobinHandle::RoundRobinHandle(std::string key, Sender send) : key_(std::move(key)), send_(std::move(send)) {}

RoundRobinHandle::~RoundRobinHandle() {
  close_all();
  for (auto& [worker, fd] : in_flight_) ::close(fd);
  in_flight_.clear();
}

int RoundRobinHandle::start(int listen_fd) {
  listen_fd_ = listen_fd;
  poll_.emplace();
  int err = uv_poll_init_socket(uv::loop(), poll_->get(), listen_fd_);
  if (err) {
    poll_.reset();
    return err;
  }
  poll_->initialized();
  poll_->get()->data = this;
  return uv_poll_start(poll_->get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
    uv::CallbackScope scope;
    auto* self = static_cast<RoundRobinHandle*>(h->data);
    // Node ignores accept errors (test-cluster-accept-fail).
    if (self && status == 0) self->accept_all();
  });
}

void RoundRobinHandle::accept_all() {
  auto keep = shared_from_this();
  // Accept while the backlog has connections: one wake-up serves a burst.
  while (!closed_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or EMFILE and friends: try again on the next wake-up
    }
    distribute(fd);
  }
}

void RoundRobinHandle::add(int worker) {
  all_.insert(worker);
  handoff(worker);
}

void RoundRobinHandle::distribute(int fd) {
  if (closed_) {
    ::close(fd);
    return;
  }
  queue_.push_back(fd);
  if (!free_.empty()) {
    int worker = free_.front();
    free_.pop_front();
    handoff(worker);
  }
}

void RoundRobinHandle::wake_free() {
  while (!queue_.empty() && !free_.empty()) {
    int worker = free_.front();
    free_.pop_front();
    handoff(worker);
  }
}

void RoundRobinHandle::handoff(int worker) {
  if (!all_.count(worker)) return;  // the worker is closing (or has closed) the server
  if (queue_.empty()) {
    if (std::find(free_.begin(), free_.end(), worker) == free_.end()) free_.push_back(worker);
    return;
  }
  int fd = queue_.front();
  queue_.pop_front();
  in_flight_[worker] = fd;
  std::weak_ptr<RoundRobinHandle> weak = weak_from_this();
  bool sent = send_(worker, fd, [weak, worker, fd](bool accepted) {
    if (auto self = weak.lock()) self->on_reply(worker, fd, accepted);
  });
  if (!sent) {
    // The worker cannot answer any more: take the connection back and let another have it.
    in_flight_.erase(worker);
    all_.erase(worker);
    queue_.push_front(fd);
    if (all_.empty()) {
      close_all();
    } else {
      wake_free();
    }
  }
}

void RoundRobinHandle::on_reply(int worker, int fd, bool accepted) {
  auto it = in_flight_.find(worker);
  if (it == in_flight_.end() || it->second != fd) return;  // already taken back
  in_flight_.erase(it);
  if (accepted) {
    ::close(fd);  // the worker has its own copy
  } else {
    distribute(fd);  // the worker is shutting down: send it to another
  }
  handoff(worker);
}

bool RoundRobinHandle::remove(int worker, bool gone) {
  const bool existed = all_.erase(worker) != 0;
  free_.erase(std::remove(free_.begin(), free_.end(), worker), free_.end());
  if (gone) {
    auto it = in_flight_.find(worker);
    if (it != in_flight_.end()) {
      int fd = it->second;
      in_flight_.erase(it);
      if (closed_) {
        ::close(fd);
      } else {
        queue_.push_front(fd);  // the oldest connection goes first
        wake_free();
      }
    }
  }
  if (!existed || !all_.empty()) return false;
  close_all();
  return true;
}

void RoundRobinHandle::close_all() {
  if (closed_) return;
  closed_ = true;
  for (int fd : queue_) ::close(fd);
  queue_.clear();
  free_.clear();
  poll_.reset();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
  unlink_path_.clear();
}

}  // namespace cluster
