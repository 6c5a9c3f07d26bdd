// The 'advanced' encoder: a Message as V8 ValueSerializer bytes, as node 20 writes the same value.
#pragma once

#include "cluster/message.hpp"

#include <cstddef>
#include <string>
#include <system_error>

namespace cluster::ipc::v8 {

// Appends m's value bytes (no header) to out; frame_start is the offset of the frame's length
// prefix in out, which V8's UTF-16 padding is relative to. errc::unsupported_value for invalid
// UTF-8, nesting past max_depth or a string, array or binary too long for V8; out then ends in
// a partial value that the caller cuts off.
std::error_code write_value(const Message& m, std::string& out, std::size_t frame_start);

}  // namespace cluster::ipc::v8
