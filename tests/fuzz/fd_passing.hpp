// Sending and receiving descriptors over an AF_UNIX socket (SCM_RIGHTS), for the fuzz harnesses
// and the relay worker. Header-only: the relay worker links nothing else.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string_view>

namespace fuzz {

inline constexpr std::size_t max_passed_fds = 64;

// sendmsg of bytes with fds[0..n) on the first byte (n <= max_passed_fds), never blocking.
inline ssize_t send_with_fds(int sock, std::string_view bytes, const int* fds, std::size_t n) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_passed_fds)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (n > 0) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    std::memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
  }
  return ::sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// One recvmsg into buf (flags: MSG_DONTWAIT or 0); the descriptors that came with it go to
// fds (up to *n of them, *n set to the count) or, with fds null, are closed. Returns recvmsg's result.
inline ssize_t recv_with_fds(int sock, char* buf, std::size_t len, int flags, int* fds = nullptr, std::size_t* n = nullptr) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_passed_fds)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  const ssize_t got = ::recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
  std::size_t kept = 0;
  for (cmsghdr* cm = got > 0 ? CMSG_FIRSTHDR(&mh) : nullptr; cm; cm = CMSG_NXTHDR(&mh, cm)) {
    const std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int f;
      std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
      if (fds && n && kept < *n) {
        fds[kept++] = f;
      } else {
        ::close(f);
      }
    }
  }
  if (n) *n = kept;
  return got;
}

}  // namespace fuzz
