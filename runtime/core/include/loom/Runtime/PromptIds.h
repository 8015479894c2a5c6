// The token-id prompt of loom-run's --prompt-ids: decimal ids separated by commas, spaces or
// tabs ("2,105, 2364"). Whether an id is in the model's vocabulary is the session's check.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace loom {

// The ids in `text`, in order. Throws loom::Error "'PIECE' is not a token id" for a piece that
// is not a whole decimal int32, and "no token ids given" when there is none.
std::vector<int32_t> parsePromptIds(std::string_view text);

} // namespace loom
