// Codecs turn messages into IPC frames and find frames again in a byte stream.
#pragma once

#include "cluster/error.hpp"
#include "cluster/message.hpp"
#include "cluster/settings.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace cluster::ipc {

// Receives each complete message a codec decodes.
using FrameSink = std::function<void(Message&&)>;

// Why decoding stopped: the code (errc::bad_message, errc::frame_too_large) and a readable detail.
struct DecodeError {
  std::error_code code;
  std::string detail;
};

// One direction's framing state. A codec is not thread-safe; each channel owns its own.
class Codec {
 public:
  virtual ~Codec() = default;
  // Appends the frame for msg to out; errc::unsupported_value if msg cannot be written.
  virtual std::error_code encode(const Message& msg, std::string& out) = 0;
  // Consumes bytes and passes each complete message to sink, in order. Returns false and fills
  // err when the stream is malformed or a frame exceeds the size limit; the codec is then unusable.
  virtual bool feed(std::string_view bytes, const FrameSink& sink, DecodeError& err) = 0;
  // True while part of a frame is held.
  virtual bool buffering() const = 0;
};

// A codec for mode that rejects frames larger than max_frame bytes.
std::unique_ptr<Codec> make_codec(Serialization mode, std::size_t max_frame);

}  // namespace cluster::ipc
