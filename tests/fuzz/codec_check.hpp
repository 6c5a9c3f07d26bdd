// The checks both codec targets make: a byte stream decodes the same whether it arrives whole or
// in pieces, and every decoded message encodes again without error and stably.
#pragma once

#include "fuzz_support.hpp"

#include "ipc/codec.hpp"

#include <string_view>
#include <system_error>
#include <vector>

namespace fuzz {

// What a codec made of a stream: the messages before it stopped, and why it stopped.
struct Fed {
  std::vector<cluster::Message> messages;
  bool ok = true;
  std::error_code code;
  bool buffering = false;
};

// Feeds pieces in order to a fresh codec, stopping at the first failure as a channel does.
Fed feed(cluster::Serialization mode, std::size_t max_frame, const std::vector<std::string_view>& pieces);

// A frame-size limit chosen by the input's hash: mostly generous, sometimes tiny.
std::size_t pick_max_frame(std::uint64_t h);

// Decodes bytes whole and in pieces cut by the input's hash; fails unless both agree on the
// messages, the outcome and what is left buffered. Returns the whole-stream result.
Fed decode_both_ways(cluster::Serialization mode, std::string_view bytes);

// Encodes m (must succeed), decodes the frame (must give exactly one message) and encodes that
// again (must give the same bytes). Returns the decoded copy.
cluster::Message check_reencode(cluster::Serialization mode, const cluster::Message& m);

}  // namespace fuzz
