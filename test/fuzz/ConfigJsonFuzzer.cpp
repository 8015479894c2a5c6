// Fuzzes the config.json reader (compiler/checkpoint): parseModelConfigText on arbitrary text.
// A config it accepts must survive the writer: toConfigJson of it parses back to the same
// config, seen as the same config.json text.
// Any exception other than loom::Error, a config that does not round-trip, and any sanitizer
// report are bugs.
#include "loom/Checkpoint/ConfigJson.h"
#include "loom/Error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  loom::ModelConfig config;
  try {
    config = loom::parseModelConfigText(text, "fuzz/config.json");
  } catch (const loom::Error &) {
    return 0;
  }
  const std::string written = loom::toConfigJson(config);
  const std::string rewritten =
      loom::toConfigJson(loom::parseModelConfigText(written, "fuzz/rewritten-config.json"));
  if (rewritten != written) {
    std::fprintf(stderr, "config.json does not round-trip:\n%s\n--- became ---\n%s\n",
                 written.c_str(), rewritten.c_str());
    std::abort();
  }
  return 0;
}
