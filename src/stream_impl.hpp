// The libuv side of cluster::Stream.
#pragma once

#include "cluster/child_process.hpp"
#include "uv/handle.hpp"

namespace cluster {

struct Stream::Impl {
  uv::Handle<uv_pipe_t> pipe;
  Stream* owner = nullptr;
  bool reading = false;
  bool ended = false;
  char buf[64 * 1024];
};

}  // namespace cluster
