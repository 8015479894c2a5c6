// The one exception type Loom's C++ code throws for bad input. Its message names the file,
// the field or tensor, and what was expected; the C API turns it into a status and a string.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace loom {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Builds a message from any streamable parts and throws it: fail(path, ": tensor '", name, "' ...").
template <typename... Parts>
[[noreturn]] void fail(const Parts &...parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}

} // namespace loom
