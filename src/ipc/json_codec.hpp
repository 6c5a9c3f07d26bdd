// Node's default 'json' serialization: one JSON.stringify()'d message a line.
#pragma once

#include "ipc/codec.hpp"

namespace cluster::ipc {

// Writes msg as JSON.stringify would (numbers in JavaScript's shortest form, binary as Node's
// Buffer.toJSON), with no trailing newline.
void write_json(const Message& msg, std::string& out);

// The 'json' codec.
std::unique_ptr<Codec> make_json_codec(std::size_t max_frame);

}  // namespace cluster::ipc
