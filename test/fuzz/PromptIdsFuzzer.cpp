// Fuzzes loom-run's --prompt-ids parser (runtime/core PromptIds): arbitrary text either parses
// or fails with loom::Error, and ids it accepts, written back with commas, parse to the same ids.
// Any other exception, a broken round trip, and any sanitizer report are bugs.
#include "loom/Error.h"
#include "loom/Runtime/PromptIds.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  std::vector<int32_t> ids;
  try {
    ids = loom::parsePromptIds(text);
  } catch (const loom::Error &) {
    return 0;
  }
  std::string written;
  for (int32_t id : ids)
    written += (written.empty() ? "" : ",") + std::to_string(id);
  if (loom::parsePromptIds(written) != ids) {
    std::fprintf(stderr, "--prompt-ids '%s' does not round-trip\n", written.c_str());
    std::abort();
  }
  return 0;
}
