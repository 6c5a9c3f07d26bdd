// ECMAScript Number::toString, shared by the JSON writer (JSON.stringify) and the V8 reader
// (numeric property keys).
#pragma once

#include <string>

namespace cluster::ipc {

// Appends a finite double as JavaScript prints it: shortest round-trip digits, decimal notation
// for exponents in [-7, 21), otherwise d.ddde±x; -0 prints as 0. NaN and infinities are the
// caller's business (JSON writes null, String() writes NaN/Infinity).
void append_js_number(double v, std::string& out);

}  // namespace cluster::ipc
