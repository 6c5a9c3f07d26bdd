// Fuzzes the 'json' framing every byte from a worker goes through (ipc::make_codec json): the
// stream decoded whole and in pieces must agree, each line the fast parser decides must match
// nlohmann's reading exactly, and every decoded message must encode again, stably, to a frame that
// decodes to the same value.
#include "codec_check.hpp"

#include "ipc/json_fast_parse.hpp"

#include <cstdint>
#include <string>

using cluster::Message;
using cluster::Serialization;

namespace {

// m as JSON.stringify sees it: -0 is written as 0.
Message normalized(const Message& m) {
  if (m.is_number_float() && m.get<double>() == 0) return Message(0.0);
  if (!m.is_array() && !m.is_object()) return m;
  Message out = m;
  for (auto i = out.begin(); i != out.end(); ++i) i.value() = normalized(i.value());
  return out;
}

// Fails if the fast parser decides text differently from nlohmann::json (which it promises to
// match exactly: unsigned for non-negative integers, doubles bit for bit).
void check_fast_parse(std::string_view text) {
  const auto fast = cluster::ipc::fast_parse_json(text);
  if (!fast) return;
  const Message ref = Message::parse(text.begin(), text.end(), nullptr, false);
  if (ref.is_discarded()) fuzz::fail("the fast parser accepts what nlohmann rejects: " + std::string(text.substr(0, 200)));
  if (!fuzz::same(*fast, ref, fuzz::Numbers::exact)) fuzz::fail("the fast parser reads " + fuzz::show(*fast) + ", nlohmann " + fuzz::show(ref));
}

}  // namespace

// libFuzzer's entry: the input is a byte stream from a worker.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const fuzz::Fed fed = fuzz::decode_both_ways(Serialization::json, bytes);
  if (fed.ok) {
    // One message a newline, and whatever follows the last newline is held.
    const auto last = bytes.rfind('\n');
    std::size_t lines = 0;
    for (char c : bytes) lines += c == '\n';
    if (fed.messages.size() != lines) fuzz::fail("a stream of " + std::to_string(lines) + " lines gave " + std::to_string(fed.messages.size()) + " messages");
    const bool tail = last == std::string_view::npos ? !bytes.empty() : last + 1 < bytes.size();
    if (fed.buffering != tail) fuzz::fail("buffering() does not match the unfinished tail");
  }
  for (const Message& m : fed.messages) {
    const Message back = fuzz::check_reencode(Serialization::json, m);
    if (!fuzz::same(normalized(m), back)) fuzz::fail("a message changes across a round trip: " + fuzz::show(m) + " -> " + fuzz::show(back));
  }
  check_fast_parse(bytes);
  std::string_view rest = bytes;
  for (int i = 0; i < 64 && !rest.empty(); ++i) {
    const auto nl = rest.find('\n');
    check_fast_parse(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return 0;
}
