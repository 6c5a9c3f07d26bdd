// Constants of V8's value-serializer format shared by the 'advanced' writer and reader. The
// format itself is described in the protocol block atop v8_codec.cpp.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace cluster::ipc::v8 {

static_assert(std::endian::native == std::endian::little,
              "V8 writes doubles and UTF-16 in host order; this codec assumes a little-endian host");

// The format version node 20 (V8 11.3) writes after FF; versions up to it are read.
constexpr std::uint32_t latest_version = 15;
// Nesting deeper than this is refused both ways (V8 itself is bounded only by its stack).
constexpr int max_depth = 1000;
// V8's String::kMaxLength on 64-bit hosts: longer strings cannot exist on the Node side.
constexpr std::size_t max_string_length = (std::size_t{1} << 29) - 24;
// Node's arrayBufferViewTypes index of a Buffer (lib/v8.js).
constexpr std::uint32_t node_buffer_index = 10;

// Raw bytes of a payload or a string.
using Bytes = const unsigned char*;

}  // namespace cluster::ipc::v8
