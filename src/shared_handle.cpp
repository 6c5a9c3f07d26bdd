#include "shared_handle.hpp"

#include <unistd.h>

namespace cluster {

SharedHandle::SharedHandle(std::string key, const net::detail::ServerSpec& spec, bool udp)
    : key_(std::move(key)), udp_(udp) {
  int r = udp ? net::detail::create_udp_socket(spec) : net::detail::create_server_socket(spec);
  if (r < 0) {
    errno_ = r;
  } else {
    fd_ = r;
    if (!udp && !spec.fd && spec.port == -1 && spec.address_type == -1) unlink_path_ = spec.address.value_or("");
  }
}

SharedHandle::~SharedHandle() {
  if (fd_ >= 0) ::close(fd_);
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
}

bool SharedHandle::remove(int worker) {
  if (!workers_.erase(worker)) return false;
  if (!workers_.empty() || keep_open_) return false;
  close();
  return true;
}

bool SharedHandle::set_keep_open(bool on) {
  keep_open_ = on;
  if (on || !workers_.empty()) return false;
  close();
  return true;
}

void SharedHandle::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
  unlink_path_.clear();
}

}  // namespace cluster
