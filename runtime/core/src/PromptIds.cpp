#include "loom/Runtime/PromptIds.h"

#include "loom/Error.h"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace loom {

std::vector<int32_t> parsePromptIds(std::string_view text) {
  auto separator = [](char c) { return c == ',' || c == ' ' || c == '\t'; };
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && separator(text[i]))
      ++i;
    if (i == text.size())
      break;
    size_t end = i;
    while (end < text.size() && !separator(text[end]))
      ++end;
    const std::string piece(text.substr(i, end - i));
    try {
      size_t used = 0;
      long long value = std::stoll(piece, &used, 10);
      if (used != piece.size() || value < INT32_MIN || value > INT32_MAX)
        throw std::invalid_argument(piece);
      ids.push_back(static_cast<int32_t>(value));
    } catch (const std::exception &) {
      fail("'", piece, "' is not a token id");
    }
    i = end;
  }
  if (ids.empty())
    fail("no token ids given");
  return ids;
}

} // namespace loom
