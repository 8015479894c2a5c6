// Fuzzes encoding arbitrary bytes with the real Gemma 4 tokenizer (test/data/tokenizer, unpacked
// by the build to LOOM_GEMMA4_TOKENIZER_JSON), then decoding the ids. Checked for every input:
//   * every id is in [0, vocabSize),
//   * the full decode and every streamed piece are valid UTF-8,
//   * for valid UTF-8 input, streaming decode equals the full decode (Tokenizer.h's promise),
//     and decoding gives the text back unless it holds U+2581, which the normalizer shares
//     with the space.
// Any exception, a broken property, and any sanitizer report are bugs.
#include "loom/Error.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

const loom::Tokenizer &gemma4() {
  static const loom::Tokenizer tokenizer = loom::Tokenizer::fromFile(LOOM_GEMMA4_TOKENIZER_JSON);
  return tokenizer;
}

bool validUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    size_t length = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size())
      return false;
    uint32_t c = length == 1 ? b : b & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80)
        return false;
      c = (c << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < smallest[length] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
      return false;
    i += length;
  }
  return true;
}

[[noreturn]] void report(const char *what, std::string_view input, std::string_view got) {
  std::fprintf(stderr, "%s\ninput (%zu bytes): %.*s\ngot (%zu bytes): %.*s\n", what, input.size(),
               int(input.size()), input.data(), got.size(), int(got.size()), got.data());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gemma4(); // a few seconds: the 33 MB tokenizer.json, once
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const loom::Tokenizer &tokenizer = gemma4();
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  const std::vector<int32_t> ids = tokenizer.encode(text);
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer.vocabSize())
      report("encode gave an id outside the vocabulary", text, std::to_string(id));
  const std::string decoded = tokenizer.decode(ids);
  if (!validUtf8(decoded))
    report("decode gave invalid UTF-8", text, decoded);
  loom::StreamingDecoder stream(tokenizer);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = stream.push(id);
    if (!validUtf8(piece))
      report("streaming decode gave invalid UTF-8", text, piece);
    streamed += piece;
  }
  streamed += stream.finish();
  if (!validUtf8(text))
    return 0;
  if (streamed != decoded)
    report("streaming decode differs from the full decode", text, streamed);
  if (decoded != text && text.find("\xE2\x96\x81") == std::string_view::npos)
    report("decode(encode(text)) is not the text", text, decoded);
  return 0;
}
