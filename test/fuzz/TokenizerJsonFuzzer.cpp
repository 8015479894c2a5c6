// Fuzzes tokenizer.json loading (runtime/tokenizer): Tokenizer::fromJson on arbitrary text, and
// for a tokenizer it accepts, encoding a fixed text (with and without BOS) and decoding the ids,
// fully and streaming, since a loaded tokenizer's tables drive both.
// Any exception other than loom::Error, and any sanitizer report, is a bug.
#include "loom/Error.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Plain text, a space run, multi-byte UTF-8, an invalid byte and Gemma-style markup.
constexpr std::string_view kText = "ab bba  <s>a\xE2\x96\x81\xC3\xA9\xF0\x9F\x98\x80\xFF<|turn>\n";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view json(reinterpret_cast<const char *>(data), size);
  try {
    const loom::Tokenizer tokenizer = loom::Tokenizer::fromJson(json, "fuzz/tokenizer.json");
    for (bool addBos : {false, true}) {
      const std::vector<int32_t> ids = tokenizer.encode(kText, addBos);
      for (int32_t id : ids)
        if (id < 0 || id >= tokenizer.vocabSize()) {
          std::fprintf(stderr, "encode gave id %d outside [0, %d)\n", id, tokenizer.vocabSize());
          std::abort();
        }
      tokenizer.decode(ids, addBos);
      loom::StreamingDecoder stream(tokenizer);
      for (int32_t id : ids)
        stream.push(id);
      stream.finish();
    }
  } catch (const loom::Error &) {
  }
  return 0;
}
