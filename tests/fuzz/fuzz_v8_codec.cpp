// Fuzzes the 'advanced' reader every byte from an advanced-mode worker goes through
// (ipc::make_codec advanced: the length framing, then the V8 value decoder). The input is read as
// a stream of frames; an input starting with 0xFF (a V8 header) is also framed whole as one
// payload, so the decoder sees every mutation behind a correct length. Decoding whole and in
// pieces must agree, and each decoded message must encode again stably and be writable as JSON.
#include "codec_check.hpp"

#include "ipc/json_codec.hpp"

#include <cstdint>
#include <string>

using cluster::Message;
using cluster::Serialization;

namespace {

// Decodes stream both ways and checks what it gives.
void check_stream(std::string_view stream) {
  const fuzz::Fed fed = fuzz::decode_both_ways(Serialization::advanced, stream);
  for (const Message& m : fed.messages) {
    fuzz::check_reencode(Serialization::advanced, m);
    // A primary may pass what a worker sent on to a 'json' worker: it must stay valid JSON.
    std::string json;
    cluster::ipc::write_json(m, json);
    if (Message::parse(json, nullptr, false).is_discarded()) fuzz::fail("a decoded message writes invalid JSON: " + json.substr(0, 300));
  }
}

}  // namespace

// libFuzzer's entry: the input as a stream, and as one payload when it starts with 0xFF.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_stream(bytes);
  if (size > 0 && data[0] == 0xFF) {
    std::string framed(4, '\0');
    for (int i = 0; i < 4; ++i) framed[static_cast<std::size_t>(i)] = static_cast<char>(size >> (24 - 8 * i));
    framed.append(bytes);
    check_stream(framed);
  }
  return 0;
}
