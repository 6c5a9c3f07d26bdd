// The pipelined handle exchange (beyond Node) at the wire: a Target told its peer is a cppcluster
// process sends every queued handle without waiting for NODE_HANDLE_ACK, in frames marked noAck,
// with all their descriptors in one sendmsg; a Target left in Node's mode sends one and waits.
#include "ipc/handle_wire.hpp"

#include <cluster/cluster.hpp>
#include <gtest/gtest.h>
#include <uv.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

using namespace cluster;

namespace {

struct Received {
  std::string bytes;
  std::vector<int> fds;
  std::vector<std::size_t> fds_per_read;  // descriptors that came with each recvmsg
};

// Reads what is waiting on fd (non-blocking), keeping the descriptors of every recvmsg.
Received read_raw(int fd) {
  Received r;
  for (;;) {
    char buf[65536];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 64)];
    iovec iov{buf, sizeof buf};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) break;
    r.fds_per_read.push_back(0);
    for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      std::size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int f;
        std::memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
        r.fds.push_back(f);
        ++r.fds_per_read.back();
      }
    }
    r.bytes.append(buf, static_cast<std::size_t>(n));
  }
  return r;
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// Sends three borrowed socket handles through a Target and returns what reached the other end.
Received send_three(bool pipelined, std::vector<int>& sockets) {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Received r;
  {
    ipc::Target t(sv[0], Serialization::json, 1 << 20);
    t.start({});
    if (pipelined) t.set_pipelined_handles(true);
    for (int i = 0; i < 3; ++i) {
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockets.push_back(s);
      t.send({{"i", i}}, Handle::borrow(s, HandleType::net_native), {}, nullptr);
    }
    for (int i = 0; i < 5; ++i) uv_run(cluster::loop(), UV_RUN_NOWAIT);
    r = read_raw(sv[1]);
  }
  uv_run(cluster::loop(), UV_RUN_NOWAIT);
  ::close(sv[1]);
  return r;
}

// Verifies Node's exchange: one NODE_HANDLE, then nothing until its ACK.
TEST(HandleWire, NodeModeWaitsForEachAck) {
  std::vector<int> sockets;
  Received r = send_three(false, sockets);
  EXPECT_EQ(count(r.bytes, "\"cmd\":\"NODE_HANDLE\""), 1);
  EXPECT_EQ(count(r.bytes, "noAck"), 0);
  EXPECT_EQ(r.fds.size(), 1u);
  for (int f : r.fds) ::close(f);
  for (int s : sockets) ::close(s);
}

// Verifies the pipelined exchange: all three frames, marked noAck, with their descriptors in
// order on one sendmsg.
TEST(HandleWire, PipelinedModeSendsAllAtOnce) {
  std::vector<int> sockets;
  Received r = send_three(true, sockets);
  EXPECT_EQ(count(r.bytes, "\"cmd\":\"NODE_HANDLE\""), 3);
  EXPECT_EQ(count(r.bytes, "\"noAck\":true"), 3);
  EXPECT_LT(r.bytes.find("{\"i\":0}"), r.bytes.find("{\"i\":1}"));
  EXPECT_LT(r.bytes.find("{\"i\":1}"), r.bytes.find("{\"i\":2}"));
  ASSERT_EQ(r.fds.size(), 3u);
  EXPECT_EQ(r.fds_per_read.front(), 3u);  // one sendmsg carried all three
  for (int f : r.fds) ::close(f);
  for (int s : sockets) ::close(s);
}

// Writes bytes on fd with descriptor `send` (or none) on its first byte.
void write_with_fd(int fd, const std::string& bytes, int send) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (send >= 0) {
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &send, sizeof send);
  }
  ASSERT_EQ(::sendmsg(fd, &mh, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// Verifies a NODE_HANDLE whose type nothing here can wrap is not dropped silently: the error is
// reported and its message still arrives, without a handle (a newconn is then refused and the
// primary gives the connection to another worker instead of losing a window slot), in both modes;
// Node's mode still acknowledges the descriptor.
TEST(HandleWire, UnknownHandleTypeDeliversTheMessageWithoutIt) {
  for (bool no_ack : {true, false}) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::vector<std::string> errors;
    std::vector<Message> internal;
    int handles = 0;
    {
      ipc::Target t(sv[0], Serialization::json, 1 << 20);
      t.start({nullptr,
               [&](Message&& m, Handle& h) {
                 internal.push_back(std::move(m));
                 handles += h ? 1 : 0;
               },
               nullptr, [&](const std::system_error& e) { errors.push_back(e.what()); }});
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      std::string frame = std::string("{\"cmd\":\"NODE_HANDLE\",\"type\":\"bogus\",") +
                          "\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":\"k\",\"seq\":1}" +
                          (no_ack ? ",\"noAck\":true}\n" : "}\n");
      write_with_fd(sv[1], frame, s);
      ::close(s);
      for (int i = 0; i < 5 && internal.empty(); ++i) uv_run(cluster::loop(), UV_RUN_NOWAIT);
      ASSERT_EQ(internal.size(), 1u) << "noAck " << no_ack;
      EXPECT_EQ(internal[0].value("act", ""), "newconn");
      EXPECT_EQ(handles, 0);
      ASSERT_EQ(errors.size(), 1u);
      EXPECT_NE(errors[0].find("unknown type"), std::string::npos) << errors[0];
      for (int i = 0; i < 5; ++i) uv_run(cluster::loop(), UV_RUN_NOWAIT);
      Received r = read_raw(sv[1]);
      EXPECT_EQ(count(r.bytes, "NODE_HANDLE_ACK"), no_ack ? 0 : 1);
    }
    uv_run(cluster::loop(), UV_RUN_NOWAIT);
    ::close(sv[1]);
  }
}

}  // namespace
