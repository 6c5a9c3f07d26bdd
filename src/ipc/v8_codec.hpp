// Node's 'advanced' serialization: a 4-byte big-endian length, then V8 ValueSerializer bytes.
#pragma once

#include "ipc/codec.hpp"

namespace cluster::ipc {

// The 'advanced' codec (lib/internal/child_process/serialization.js).
std::unique_ptr<Codec> make_v8_codec(std::size_t max_frame);

}  // namespace cluster::ipc
