// The 'advanced' decoder: one payload of V8 ValueSerializer bytes to a Message. Its members are
// split by role: v8_reader.cpp reads the JSON-shaped values (primitives, strings, objects,
// arrays, back-references), v8_reader_builtins.cpp the JS built-ins a Message approximates
// (Date, Map, Set, Error, boxed primitives, BigInt, ArrayBuffers and views, Node host objects).
// The format is the protocol block atop v8_codec.cpp; the mapping is docs/serialization.md.
#pragma once

#include "cluster/error.hpp"
#include "cluster/message.hpp"
#include "ipc/codec.hpp"
#include "ipc/v8_format.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace cluster::ipc::v8 {

// Where an object-like value was read, so that a later '^' can decode it again.
struct ObjectRef {
  std::uint32_t start = 0;     // payload offset of the read that produced it
  std::uint32_t end = 0;       // offset just past it, once complete
  std::uint32_t first_id = 0;  // the next id at start, so a replay assigns the same ids
  bool complete = false;
  bool array_buffer = false;   // a 'B'/'~' that a 'V' may follow
};

// A JS number as a Message: integral values within +-2^53 (but not -0) become integers.
inline Message number_message(double d) {
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0 && !(d == 0 && std::signbit(d))) {
    return Message(static_cast<std::int64_t>(d));
  }
  return Message(d);
}

// A tag byte for an error detail: "0x4b 'K'".
std::string tag_text(unsigned t);

// Reads one payload. Untrusted input: every length is checked against the bytes left, and the
// total work is bounded by a budget proportional to the payload size.
class Decoder {
 public:
  // refs is scratch storage reused across frames (cleared here); err receives the failure.
  Decoder(std::string_view payload, std::vector<ObjectRef>& refs, DecodeError& err)
      : p_(reinterpret_cast<Bytes>(payload.data())),
        size_(payload.size()),
        refs_(refs),
        err_(err),
        budget_(16 * static_cast<std::uint64_t>(payload.size()) + 65536) {
    refs_.clear();
  }

  // Reads the whole payload into out; false with err filled (errc::bad_message, or
  // errc::unsupported_value for a value a Message cannot hold) when it is malformed.
  bool decode(Message& out);

 private:
  // What read_value found: undefined is null in out, dropped where JSON.stringify drops it.
  enum class Got { fail, value, undefined };

  // Records why decoding stopped; always false.
  bool fail(std::string detail, errc code = errc::bad_message) {
    err_ = {make_error_code(code), std::move(detail)};
    return false;
  }

  // fail() for a read_value-shaped caller; always Got::fail.
  Got bad(std::string detail, errc code = errc::bad_message) {
    fail(std::move(detail), code);
    return Got::fail;
  }

  // " at offset N", for error details.
  std::string at(std::size_t offset) const { return " at offset " + std::to_string(offset); }

  // The payload ended inside what; always false.
  bool truncated(const char* what) {
    return fail(std::string("frame ends inside ") + what + at(pos_));
  }

  // Adds units to the work done; false once it passes the budget.
  bool charge(std::uint64_t units) {
    cost_ += units;
    if (cost_ > budget_) {
      return fail("the value decodes to more than " + std::to_string(budget_) +
                  " units, too much for a frame of " + std::to_string(size_) +
                  " bytes (a lying length, or back-references copied too often)" + at(pos_));
    }
    return true;
  }

  // Consumes the next tag after any padding; false at the end of the payload.
  bool read_tag(unsigned& t) {
    while (pos_ < size_ && p_[pos_] == 0) ++pos_;  // padding
    if (pos_ >= size_) return truncated("a value");
    t = p_[pos_++];
    return true;
  }

  // The next tag after any padding, not consumed.
  bool peek_tag(unsigned& t) {
    while (pos_ < size_ && p_[pos_] == 0) ++pos_;
    if (pos_ >= size_) return truncated("an object, array, map or set");
    t = p_[pos_];
    return true;
  }

  // A base-128 varint of at most 5 bytes; false when truncated or longer.
  bool read_varint(std::uint32_t& v, const char* what) {
    std::uint32_t result = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (pos_ >= size_) return truncated(what);
      const unsigned b = p_[pos_++];
      result |= static_cast<std::uint32_t>(b & 0x7F) << shift;  // bits past 32 dropped, as V8
      if (!(b & 0x80)) {
        v = result;
        return true;
      }
    }
    return fail(std::string("over-long varint for ") + what + at(pos_));
  }

  // 8 bytes of a host-order double; false when fewer remain.
  bool read_double(double& d) {
    if (size_ - pos_ < 8) return truncated("a double");
    std::memcpy(&d, p_ + pos_, 8);
    pos_ += 8;
    return true;
  }

  // Points data at the next n bytes, in place; false when fewer remain.
  bool read_bytes(std::size_t n, Bytes& data, const char* what) {
    if (n > size_ - pos_) {
      return fail(std::string(what) + " declares " + std::to_string(n) + " bytes but " +
                  std::to_string(size_ - pos_) + " remain" + at(pos_));
    }
    data = p_ + pos_;
    pos_ += n;
    return true;
  }

  // The next object id for a value starting at start; recorded for '^' unless replaying one.
  std::uint32_t new_id(std::size_t start, std::uint32_t first_id, bool array_buffer = false) {
    if (replaying_ == 0) {
      ObjectRef r;
      r.start = static_cast<std::uint32_t>(start);
      r.first_id = first_id;
      r.array_buffer = array_buffer;
      refs_.push_back(r);
    }
    return next_id_++;
  }

  // Marks object id fully read, so a later '^' may copy it.
  void complete(std::uint32_t id) {
    if (replaying_ == 0) {
      refs_[id].end = static_cast<std::uint32_t>(pos_);
      refs_[id].complete = true;
    }
  }

  // v8_reader.cpp: JSON-shaped values. Each returns false (or Got::fail) with err_ filled.
  // The body of a '"', 'c' or 'S' string.
  bool read_string_body(unsigned tag, std::string& s);
  // V8 ReadString: a string value (version >= 12) or raw UTF-8 (older).
  bool read_string(std::string& s);
  // A property key: a string, or a number V8 wrote for an integer key.
  bool read_key(std::string& key);
  // Any value; allow_view is false when replaying an ArrayBuffer a 'V' already followed.
  Got read_value(Message& out, bool allow_view);
  // Checks that the object just read lists each key once (V8 refuses a repeated key).
  bool unique_keys(const Message::object_t::Container& v);
  // The count (and length, for arrays) after an end tag, which must match what was read.
  bool read_end(std::uint32_t count, const char* what, std::uint32_t length = 0,
                bool has_length = false);
  // An object 'o' ... '{'; undefined-valued properties are dropped.
  Got read_object(Message& out, std::size_t start, std::uint32_t first_id);
  // Properties after an array's elements: index keys fill elements, other keys are dropped
  // (JSON.stringify ignores an array's named properties).
  bool read_array_properties(Message::array_t& arr, unsigned end_tag, std::uint32_t& count);
  // A dense array 'A' ... '$'; holes read as null.
  Got read_dense_array(Message& out, std::size_t start, std::uint32_t first_id);
  // A sparse array 'a' ... '@', its length charged to the budget; holes read as null.
  Got read_sparse_array(Message& out, std::size_t start, std::uint32_t first_id);

  // v8_reader_builtins.cpp: JS built-ins read into their documented approximations.
  // A BigInt as an int64 or uint64; errc::unsupported_value when wider.
  bool read_bigint(Message& out);
  // A Boolean, Number, BigInt or String object as its primitive.
  Got read_boxed(unsigned t, Message& out, std::size_t start, std::uint32_t first_id);
  // A Map as an array of [key, value] pairs; a Set as an array of members.
  Got read_map(Message& out, std::size_t start, std::uint32_t first_id);
  Got read_set(Message& out, std::size_t start, std::uint32_t first_id);
  // An Error as {name, message?, stack?, cause?}.
  Got read_error(Message& out, std::size_t start, std::uint32_t first_id);
  // The bytes of a typed array, DataView or Buffer: byte-wide views as binary, the others as
  // an array of their numbers.
  bool view_message(int kind, Bytes data, std::size_t n, Message& out);
  // After an ArrayBuffer (in out), a 'V' turns it into a view of part of it.
  Got maybe_view(Message& out, std::size_t start, std::uint32_t first_id, bool allow_view);
  // Node's ChildProcessDeserializer._readHostObject.
  Got read_host_object(Message& out, std::size_t start, std::uint32_t first_id);

  Bytes p_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::uint32_t version_ = 0;  // a payload without FF is version 0, as V8 reads it
  std::uint32_t next_id_ = 0;
  int depth_ = 0;
  int replaying_ = 0;
  std::vector<ObjectRef>& refs_;
  DecodeError& err_;
  std::uint64_t cost_ = 0;
  std::uint64_t budget_;
};

}  // namespace cluster::ipc::v8
