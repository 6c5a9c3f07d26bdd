// The 'advanced' framing (lib/internal/child_process/serialization.js, advanced), as node 20
// (V8 11.3, serializer format version 15) writes it:
//
//   frame   = u32 big-endian payload length, payload
//   payload = FF varint(version) value          (Node writes FF 0F; versions <= 15 are read)
//   value   = '0' null | 'T' true | 'F' false | '_' undefined
//           | 'I' zigzag-varint int32 (a Smi) | 'U' varint uint32 | 'N' f64 (host order, LE here)
//           | 'Z' varint(bitfield: sign | byte length << 1) digits, little-endian
//           | '"' varint(n) Latin-1 bytes | 'c' varint(n) UTF-16 code units | 'S' varint(n) UTF-8
//           | 'o' (key value)* '{' varint(count)
//           | 'A' varint(len) value{len} (key value)* '$' varint(count) varint(len)  (dense array)
//           | 'a' varint(len) (key value)* '@' varint(count) varint(len)           (sparse array)
//           | 'D' f64 ms | 'R' string varint(flags) | ';' (k v)* ':' varint(2n) | '\'' v* ',' varint(n)
//           | 'y' | 'x' | 'n' f64 | 'z' bigint | 's' string          (Boolean/Number/... objects)
//           | 'B' varint(n) bytes ['V' view] | 'r' error fields '.' | '^' varint(object id)
//           | '\\' varint(0) varint(type) varint(n) bytes   (Node: an ArrayBufferView, 10 = Buffer)
//           | '\\' varint(1) value                           (Node: another host object, copied)
//   '\0' padding may precede any tag: V8 puts one before 'c' when the UTF-16 data would otherwise
//   start at an odd offset of the serializer's buffer, which begins with the 4 length bytes.
//   Object keys are strings, or 'I'/'N' numbers for array indices (V8 lists those first).
//   Every object-like value (not strings or numbers) gets the next id in the order it starts;
//   '^' refers back to one. Our encoder writes only trees, so never '^'.
// docs/serialization.md lists how each V8 value maps to a Message and back. The encoder is
// v8_writer.cpp, the decoder v8_reader.cpp and v8_reader_builtins.cpp; this file holds the framing.
#include "ipc/v8_codec.hpp"

#include "ipc/v8_format.hpp"
#include "ipc/v8_reader.hpp"
#include "ipc/v8_writer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace cluster::ipc {
namespace {

class V8Codec final : public Codec {
 public:
  explicit V8Codec(std::size_t max_frame) : max_frame_(max_frame) {}

  std::error_code encode(const Message& msg, std::string& out) override {
    const std::size_t start = out.size();
    out.append("\0\0\0\0\xFF\x0F", 6);
    if (auto ec = v8::write_value(msg, out, start)) {
      out.resize(start);
      return ec;
    }
    const std::size_t len = out.size() - start - 4;
    if (len > std::numeric_limits<std::uint32_t>::max()) {
      out.resize(start);
      return make_error_code(errc::unsupported_value);
    }
    out[start] = static_cast<char>(len >> 24);
    out[start + 1] = static_cast<char>(len >> 16);
    out[start + 2] = static_cast<char>(len >> 8);
    out[start + 3] = static_cast<char>(len);
    return {};
  }

  bool feed(std::string_view bytes, const FrameSink& sink, DecodeError& err) override {
    if (failed_) {
      err = failure_;
      return false;
    }
    while (!bytes.empty()) {
      if (prefix_have_ == 0 && bytes.size() >= 4) {
        // Fast path: decode whole frames straight from the caller's bytes.
        const std::uint32_t len = be32(reinterpret_cast<v8::Bytes>(bytes.data()));
        if (!check_length(len, err)) return false;
        if (bytes.size() - 4 >= len) {
          Message m;
          if (!decode(bytes.substr(4, len), m, err)) return false;
          bytes.remove_prefix(4 + static_cast<std::size_t>(len));
          sink(std::move(m));
          continue;
        }
      }
      if (prefix_have_ < 4) {
        const std::size_t take = std::min<std::size_t>(4 - prefix_have_, bytes.size());
        std::memcpy(prefix_ + prefix_have_, bytes.data(), take);
        prefix_have_ += take;
        bytes.remove_prefix(take);
        if (prefix_have_ < 4) return true;
        frame_len_ = be32(prefix_);
        if (!check_length(frame_len_, err)) return false;
        pending_.clear();
      }
      const std::size_t take = std::min<std::size_t>(frame_len_ - pending_.size(), bytes.size());
      pending_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (pending_.size() < frame_len_) return true;
      Message m;
      if (!decode(pending_, m, err)) return false;
      prefix_have_ = 0;
      if (pending_.capacity() > (std::size_t{1} << 20)) {
        std::string().swap(pending_);
      } else {
        pending_.clear();
      }
      sink(std::move(m));
    }
    return true;
  }

  bool buffering() const override { return prefix_have_ > 0; }

 private:
  static std::uint32_t be32(v8::Bytes p) {
    return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
           (static_cast<std::uint32_t>(p[2]) << 8) | p[3];
  }

  bool check_length(std::uint32_t len, DecodeError& err) {
    if (len <= max_frame_) return true;
    return stop({make_error_code(errc::frame_too_large),
                 "an advanced frame of " + std::to_string(len) + " bytes exceeds " +
                     std::to_string(max_frame_)},
                err);
  }

  bool decode(std::string_view payload, Message& m, DecodeError& err) {
    DecodeError e;
    v8::Decoder decoder(payload, refs_, e);
    const bool ok = decoder.decode(m);
    if (refs_.capacity() > 4096) std::vector<v8::ObjectRef>().swap(refs_);
    return ok || stop(std::move(e), err);
  }

  bool stop(DecodeError e, DecodeError& err) {
    failed_ = true;
    failure_ = e;
    err = std::move(e);
    return false;
  }

  std::size_t max_frame_;
  unsigned char prefix_[4] = {};
  std::size_t prefix_have_ = 0;
  std::uint32_t frame_len_ = 0;
  std::string pending_;
  std::vector<v8::ObjectRef> refs_;  // reused by each frame's decoder
  bool failed_ = false;
  DecodeError failure_;
};

}  // namespace

std::unique_ptr<Codec> make_v8_codec(std::size_t max_frame) {
  return std::make_unique<V8Codec>(max_frame);
}

}  // namespace cluster::ipc
