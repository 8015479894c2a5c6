#include "StopStrings.h"

#include <algorithm>

namespace loom::serve {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string &s : stops_)
    longest_ = std::max(longest_, s.size());
}

std::string StopStrings::push(const std::string &piece) {
  if (stopped_)
    return "";
  held_ += piece;
  size_t first = std::string::npos;
  for (const std::string &s : stops_)
    if (!s.empty())
      first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest end of the text that begins a stop string (shorter than it, or it
  // would have matched); never the middle of a UTF-8 character.
  size_t keep = 0;
  for (size_t k = std::min(held_.size(), longest_ > 0 ? longest_ - 1 : 0); k > 0 && !keep; --k)
    for (const std::string &s : stops_)
      if (s.size() > k && s.compare(0, k, held_, held_.size() - k, k) == 0) {
        keep = k;
        break;
      }
  size_t cut = held_.size() - keep;
  while (cut > 0 && cut < held_.size() && (static_cast<unsigned char>(held_[cut]) & 0xC0) == 0x80)
    --cut;
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  return out;
}

std::string StopStrings::finish() {
  std::string out;
  out.swap(held_);
  return out;
}

} // namespace loom::serve
