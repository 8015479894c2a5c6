// Fuzzes Gemma 4's chat template (runtime/core ChatTemplate): a conversation drawn from the input
// (roles, text and media parts, thinking, generation prompt) is rendered, and trim, which the
// template applies to every text, is checked on each text:
//   * trim leaves no Python whitespace at either end and is idempotent,
//   * a rendered conversation starts with <bos> and ends with the generation prompt when asked,
//   * a media expansion of n tokens holds exactly n markers.
// Any exception other than loom::Error, a broken property, and any sanitizer report are bugs.
#include "loom/Error.h"
#include "loom/Runtime/ChatTemplate.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace chat = loom::chat;

namespace {

[[noreturn]] void report(const char *what, const std::string &text) {
  std::fprintf(stderr, "%s: '%s'\n", what, text.c_str());
  std::abort();
}

// The ASCII and Latin-1 Python whitespace a trimmed text may not start or end with (the rest are
// multi-byte; trimming them is the same code path).
bool endsInAsciiSpace(const std::string &text) {
  auto space = [](unsigned char c) { return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20); };
  return !text.empty() && (space(text.front()) || space(text.back()));
}

void checkTrim(const std::string &text) {
  const std::string trimmed = chat::trim(text);
  if (endsInAsciiSpace(trimmed))
    report("trim left whitespace at an end", trimmed);
  if (chat::trim(trimmed) != trimmed)
    report("trim is not idempotent", trimmed);
}

size_t count(const std::string &text, std::string_view marker) {
  size_t n = 0;
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + marker.size()))
    ++n;
  return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  chat::ChatOptions options;
  options.thinking = input.ConsumeBool();
  options.addGenerationPrompt = input.ConsumeBool();
  const int64_t mediaTokens = input.ConsumeIntegralInRange<int64_t>(0, 300);
  std::vector<chat::ChatMessage> messages(input.ConsumeIntegralInRange<size_t>(0, 6));
  const char *roles[] = {"system", "developer", "user", "assistant", "model", ""};
  for (chat::ChatMessage &message : messages) {
    const size_t role = input.ConsumeIntegralInRange<size_t>(0, std::size(roles));
    message.role = role < std::size(roles) ? roles[role] : input.ConsumeRandomLengthString(16);
    const size_t parts = input.ConsumeIntegralInRange<size_t>(0, 4);
    for (size_t p = 0; p < parts; ++p) {
      chat::ChatPart part;
      part.kind = static_cast<chat::PartKind>(input.ConsumeIntegralInRange<int>(0, 3));
      if (part.kind == chat::PartKind::Text) {
        part.text = input.ConsumeRandomLengthString(256);
        checkTrim(part.text);
        chat::stripThinking(part.text);
      }
      message.content.push_back(std::move(part));
    }
  }
  try {
    const std::string rendered = chat::render(messages, options);
    if (rendered.rfind("<bos>", 0) != 0)
      report("a rendered conversation does not start with <bos>", rendered);
    const std::string prompt = chat::generationPrompt(options.thinking);
    if (options.addGenerationPrompt &&
        (rendered.size() < prompt.size() ||
         rendered.compare(rendered.size() - prompt.size(), prompt.size(), prompt) != 0))
      report("a rendered conversation does not end with the generation prompt", rendered);
  } catch (const loom::Error &) {
  }
  if (count(chat::imageExpansion(mediaTokens), chat::kImageMarker) != size_t(mediaTokens) ||
      count(chat::audioExpansion(mediaTokens), chat::kAudioMarker) != size_t(mediaTokens))
    report("a media expansion has the wrong number of markers", std::to_string(mediaTokens));
  return 0;
}
