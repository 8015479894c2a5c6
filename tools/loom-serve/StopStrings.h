// OpenAI's `stop`: generated text ends before the first occurrence of any stop string. Text is
// released as soon as it cannot be the start of a stop string, so a stream never shows text
// that a later piece turns into a stop, and holds back no more than that.
#pragma once

#include <string>
#include <vector>

namespace loom::serve {

class StopStrings {
public:
  explicit StopStrings(std::vector<std::string> stops);
  // Adds a piece; returns the text now safe to show. stopped() becomes true when a stop string
  // completed (the text before it was returned, the rest dropped).
  std::string push(const std::string &piece);
  // The text held back at the end of generation.
  std::string finish();
  bool stopped() const { return stopped_; }

private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string held_;
  bool stopped_ = false;
};

} // namespace loom::serve
