// A fast path for reading JSON frames: the shapes cluster messages have (objects, arrays,
// ASCII strings with simple escapes, integers, doubles, literals, shallow nesting) are parsed
// here at about four times nlohmann's speed; anything else (non-ASCII text, \u escapes, huge
// integers, deep nesting, and every malformed frame) is left to nlohmann::json, whose result and
// errors stay the reference. tests/unit/json_fast_parse_test.cpp checks the two agree.
#pragma once

#include "cluster/message.hpp"

#include <optional>
#include <string_view>

namespace cluster::ipc {

// The value of one JSON text, or nullopt when the fast path does not decide (the caller then
// parses with nlohmann::json). Never fails otherwise and never accepts what nlohmann rejects.
std::optional<Message> fast_parse_json(std::string_view text);

}  // namespace cluster::ipc
