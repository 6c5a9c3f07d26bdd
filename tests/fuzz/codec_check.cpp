#include "codec_check.hpp"

#include <string>

namespace fuzz {

using cluster::Message;
using cluster::Serialization;

Fed feed(Serialization mode, std::size_t max_frame, const std::vector<std::string_view>& pieces) {
  auto codec = cluster::ipc::make_codec(mode, max_frame);
  Fed out;
  cluster::ipc::DecodeError err;
  for (std::string_view piece : pieces) {
    if (!codec->feed(piece, [&](Message&& m) { out.messages.push_back(std::move(m)); }, err)) {
      out.ok = false;
      out.code = err.code;
      if (err.detail.empty()) fail("a decode error without a detail");
      break;
    }
  }
  out.buffering = codec->buffering();
  return out;
}

std::size_t pick_max_frame(std::uint64_t h) {
  return (h & 3) ? std::size_t{1} << 20 : 1 + (h >> 8) % 300;
}

Fed decode_both_ways(Serialization mode, std::string_view bytes) {
  const std::uint64_t h = hash(bytes);
  const std::size_t max_frame = pick_max_frame(h);
  Rng rng(h);
  const Fed whole = feed(mode, max_frame, {bytes});
  const Fed split = feed(mode, max_frame, chunks(bytes, rng));
  if (whole.ok != split.ok || whole.code != split.code) {
    fail("whole and split feeding end differently: " + whole.code.message() + " vs " + split.code.message());
  }
  if (whole.messages.size() != split.messages.size()) {
    fail("whole feeding gives " + std::to_string(whole.messages.size()) + " messages, split " +
         std::to_string(split.messages.size()));
  }
  for (std::size_t i = 0; i < whole.messages.size(); ++i) {
    if (!same(whole.messages[i], split.messages[i])) {
      fail("message " + std::to_string(i) + " differs: " + show(whole.messages[i]) + " vs " + show(split.messages[i]));
    }
  }
  if (whole.ok && whole.buffering != split.buffering) fail("whole and split feeding buffer differently");
  return whole;
}

Message check_reencode(Serialization mode, const Message& m) {
  auto codec = cluster::ipc::make_codec(mode, std::size_t{1} << 30);
  std::string first;
  if (auto ec = codec->encode(m, first)) fail("a decoded message does not encode: " + ec.message() + ": " + show(m));
  const Fed again = feed(mode, std::size_t{1} << 30, {first});
  if (!again.ok || again.messages.size() != 1 || again.buffering) {
    fail("an encoded message does not decode to one message: " + show(m));
  }
  std::string second;
  if (auto ec = codec->encode(again.messages[0], second)) fail("a re-decoded message does not encode: " + show(m));
  if (first != second) fail("encoding is not stable across a round trip: " + show(m));
  return again.messages[0];
}

}  // namespace fuzz
