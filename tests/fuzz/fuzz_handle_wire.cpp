// Fuzzes the handle wire (ipc::Target over a socketpair): the input plays the peer, writing
// frames (NODE_HANDLE with and without noAck, ACK/NACK, internal and user messages, garbage)
// with descriptors of several kinds attached by SCM_RIGHTS, and drives this side's sends of
// owned and borrowed handles, pipelining, disconnect and destroy. The loop runs until the bytes
// are consumed. Afterwards every descriptor must be closed: the process's descriptor count is
// compared before and after each input, and a leak aborts; so does a Target whose channel has
// closed but which still holds descriptors (they would stay open as long as the Worker object).
//
// Input: one byte of serialization (bit 0: advanced), then operations, each an opcode byte:
//   op%8 0-2  segment: u16 length, bytes; (op>>3)&3 descriptors of kind op>>5 on its first byte
//   op%8 3    send() with an owned handle (net.Socket when op>>3 is even, else net.Native)
//   op%8 4    send() with a borrowed handle (keep_open when op>>3 is odd)
//   op%8 5    set_pipelined_handles(op>>3 odd)
//   op%8 6    by (op>>3)%4: disconnect(), destroy(), the peer shuts its writing side, send_quiet()
//   op%8 7    send() of a plain message with a callback
#include "fd_passing.hpp"
#include "fuzz_support.hpp"

#include "ipc/handle_wire.hpp"

#include <cluster/cluster.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

using namespace cluster;

namespace {

constexpr unsigned max_fds = 3;

// A fresh descriptor of the given kind, or -1 when it cannot be made.
int make_fd(unsigned kind) {
  int two[2];
  switch (kind % 7) {
    case 0: return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    case 1: return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    case 2:
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, two) != 0) return -1;
      ::close(two[1]);
      return two[0];
    case 3:
      if (::pipe2(two, O_CLOEXEC) != 0) return -1;
      ::close(two[1]);
      return two[0];
    case 4: return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    case 5: return ::eventfd(0, EFD_CLOEXEC);
    default: return ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
}

// Writes bytes on fd with nfds fresh descriptors of kind on the first byte; our copies are closed
// once sent (those in flight are the receiver's to close).
void send_segment(int fd, std::string_view bytes, unsigned nfds, unsigned kind) {
  if (bytes.empty()) return;
  int fds[max_fds];
  unsigned made = 0;
  for (unsigned i = 0; i < nfds; ++i) {
    const int f = make_fd(kind + i);
    if (f >= 0) fds[made++] = f;
  }
  fuzz::send_with_fds(fd, bytes, fds, made);
  for (unsigned i = 0; i < made; ++i) ::close(fds[i]);
}

// Reads and drops what this side wrote to the peer, closing the descriptors that came with it.
void drain(int fd) {
  char buf[65536];
  while (fuzz::recv_with_fds(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

// One run: a Target on one end of a socketpair, the input playing the other end.
class Harness {
 public:
  // A Target in mode on one end of a fresh socketpair, started with callbacks that keep handles.
  explicit Harness(Serialization mode) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fuzz::fail("socketpair");
    peer_ = sv[1];
    target_ = std::make_unique<ipc::Target>(sv[0], mode, std::size_t{1} << 20);
    target_->start({
        [this](Message&&, Handle& h) { keep(h); },
        [this](Message&&, Handle& h) { keep(h); },
        [] {},
        [](const std::system_error&) {},
    });
  }

  // Destroys the Target, lets the loop close its handles and closes everything the run made.
  // A Target whose channel has closed must hold no descriptor by then: destroying it closes none.
  ~Harness() {
    settle();
    const bool closed = target_->channel().closed();
    const std::size_t held = fuzz::open_fds();
    target_.reset();
    settle();
    if (closed && fuzz::open_fds() != held) {
      fuzz::fail("a closed channel kept " + std::to_string(held - fuzz::open_fds()) + " descriptors until its Target was destroyed");
    }
    drain(peer_);
    ::close(peer_);
    kept_.clear();
    fuzz::close_all(borrowed_);
    fuzz::pump([] { return false; }, 2);
  }

  // Performs one operation read from in.
  void step(fuzz::Input& in) {
    const std::uint8_t op = in.u8();
    const unsigned arg = op >> 3;
    switch (op % 8) {
      case 0:
      case 1:
      case 2: {
        const std::string_view bytes = in.bytes(in.u16() % 4096);
        if (!peer_shut_) send_segment(peer_, bytes, arg & 3, arg >> 2);
        break;
      }
      case 3: {
        const int s = make_fd(arg & 1 ? 6 : 0);
        if (s >= 0) target_->send({{"n", ++sends_}}, Handle::adopt(s, arg & 2 ? HandleType::net_native : HandleType::net_socket), {}, nullptr);
        break;
      }
      case 4: {
        const int s = make_fd(arg & 2 ? 1 : 0);
        if (s < 0) break;
        borrowed_.push_back(s);
        target_->send({{"n", ++sends_}}, Handle::borrow(s, arg & 4 ? HandleType::dgram_native : HandleType::net_native),
                      SendOptions{(arg & 1) != 0}, [](std::error_code) {});
        break;
      }
      case 5: target_->set_pipelined_handles(arg & 1); break;
      case 6: control(arg % 4); break;
      default: target_->send({{"cmd", "NODE_X"}, {"n", ++sends_}}, {}, {}, [](std::error_code) {}); break;
    }
    settle();
  }

 private:
  // Keeps every other received handle until the end of the run; the rest close when dropped.
  void keep(Handle& h) {
    if (h && (++received_ & 1)) kept_.push_back(std::move(h));
  }

  // The disconnect-like operations.
  void control(unsigned which) {
    switch (which) {
      case 0: target_->disconnect(); break;
      case 1: target_->destroy(); break;
      case 2:
        ::shutdown(peer_, SHUT_WR);
        peer_shut_ = true;
        break;
      default: target_->send_quiet({{"cmd", "NODE_HANDLE_ACK"}}); break;
    }
  }

  // Runs the loop until the Target has read everything the peer wrote, and drains its answers.
  void settle() {
    fuzz::pump([this] {
      const int fd = target_ ? target_->channel().fd() : -1;
      int unread = 0;
      return fd < 0 || ::ioctl(fd, FIONREAD, &unread) != 0 || unread == 0;
    });
    drain(peer_);
  }

  int peer_ = -1;
  bool peer_shut_ = false;
  std::unique_ptr<ipc::Target> target_;
  std::vector<Handle> kept_;
  std::vector<int> borrowed_;
  int received_ = 0;
  int sends_ = 0;
};

// One input from start to end.
void run(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  Harness h(in.u8() & 1 ? Serialization::advanced : Serialization::json);
  for (int i = 0; i < 64 && !in.empty(); ++i) h.step(in);
}

}  // namespace

// libFuzzer's set-up: one warm-up run before any descriptor is counted.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The loop's own descriptors are made on first use: make them before counting.
  const std::uint8_t warm[] = {0, 3, 7};
  run(warm, sizeof warm);
  return 0;
}

// libFuzzer's entry: one run, then the same descriptors open as before it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t before = fuzz::open_fds();
  run(data, size);
  const std::size_t after = fuzz::open_fds();
  if (after != before) fuzz::fail("descriptor leak: " + std::to_string(before) + " open before the input, " + std::to_string(after) + " after");
  return 0;
}
