#include "loom/Runtime/ChatTemplate.h"

#include "loom/Error.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <algorithm>

namespace loom::chat {
namespace {

// Python's str.isspace() code points (bidi class WS/B/S or category Zs).
bool isPythonSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

// The code point starting at text[i] and its byte length; invalid UTF-8 reads as one
// non-space byte, so it is never trimmed.
std::pair<uint32_t, size_t> codePointAt(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  uint8_t b = byte(i);
  size_t length = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || i + length > text.size())
    return {0xFFFFFFFF, 1};
  uint32_t c = length == 1 ? b : b & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80)
      return {0xFFFFFFFF, 1};
    c = (c << 6) | (byte(i + k) & 0x3F);
  }
  return {c, length};
}

std::string repeat(std::string_view piece, int64_t n) {
  std::string out;
  out.reserve(piece.size() * static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    out += piece;
  return out;
}

bool isSystemRole(const std::string &role) { return role == "system" || role == "developer"; }

// The system message's text: the template writes a string content trimmed.
std::string systemText(const ChatMessage &message) {
  std::string text;
  for (const ChatPart &part : message.content) {
    if (part.kind != PartKind::Text)
      fail("chat: the system message may hold only text, not media");
    text += part.text;
  }
  return text;
}

} // namespace

std::string trim(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    auto [c, length] = codePointAt(text, begin);
    if (!isPythonSpace(c))
      break;
    begin += length;
  }
  // Scan forward remembering where the last non-space code point ends.
  size_t end = begin;
  for (size_t i = begin; i < text.size();) {
    auto [c, length] = codePointAt(text, i);
    i += length;
    if (!isPythonSpace(c))
      end = i;
  }
  return std::string(text.substr(begin, end - begin));
}

std::string stripThinking(std::string_view text) {
  // for part in text.split('<channel|>'): keep what precedes '<|channel>' in the part.
  static constexpr std::string_view open = "<|channel>", close = "<channel|>";
  std::string result;
  size_t start = 0;
  while (true) {
    size_t stop = text.find(close, start);
    std::string_view part =
        text.substr(start, stop == std::string_view::npos ? std::string_view::npos : stop - start);
    size_t channel = part.find(open);
    result += part.substr(0, channel);
    if (stop == std::string_view::npos)
      break;
    start = stop + close.size();
  }
  return trim(result);
}

std::string beginConversation(bool hasSystem, std::string_view system, bool thinking) {
  std::string out = "<bos>";
  if (thinking || hasSystem) {
    out += "<|turn>system\n";
    if (thinking)
      out += "<|think|>\n";
    if (hasSystem)
      out += trim(system);
    out += "<turn|>\n";
  }
  return out;
}

std::string turn(const ChatMessage &message) {
  if (message.role.empty())
    fail("chat: a message has an empty role");
  const std::string role = message.role == "assistant" ? "model" : message.role;
  std::string out = "<|turn>" + role + "\n";
  for (const ChatPart &part : message.content) {
    switch (part.kind) {
    case PartKind::Text:
      out += role == "model" ? stripThinking(part.text) : trim(part.text);
      break;
    case PartKind::Image:
      out += kImageMarker;
      break;
    case PartKind::Audio:
      out += kAudioMarker;
      break;
    case PartKind::Video:
      out += kVideoMarker;
      break;
    }
  }
  out += "<turn|>\n";
  return out;
}

std::string generationPrompt(bool thinking) {
  // The 12B template closes an empty thought channel when thinking is off (the E2B/E4B
  // templates do not); with thinking on the model opens the channel itself.
  return thinking ? "<|turn>model\n" : "<|turn>model\n<|channel>thought\n<channel|>";
}

std::string render(const std::vector<ChatMessage> &messages, const ChatOptions &options) {
  if (messages.empty())
    fail("chat: the conversation has no messages");
  const bool hasSystem = isSystemRole(messages.front().role);
  std::string out = beginConversation(hasSystem, hasSystem ? systemText(messages.front()) : "",
                                      options.thinking);
  for (size_t i = hasSystem ? 1 : 0; i < messages.size(); ++i) {
    if (isSystemRole(messages[i].role))
      fail("chat: message ", i + 1, " has role '", messages[i].role,
           "': a system message must be the first one");
    out += turn(messages[i]);
  }
  if (options.addGenerationPrompt)
    out += generationPrompt(options.thinking);
  return out;
}

std::string imageExpansion(int64_t tokens) {
  return "<|image>" + repeat(kImageMarker, tokens) + "<image|>";
}

std::string audioExpansion(int64_t tokens) {
  return "<|audio>" + repeat(kAudioMarker, tokens) + "<audio|>";
}

std::string videoExpansion(const std::vector<std::string> &timestamps, int64_t tokensPerFrame) {
  std::string out;
  for (size_t i = 0; i < timestamps.size(); ++i) {
    if (i)
      out += ' ';
    out += timestamps[i] + " <|image>" + repeat(kVideoMarker, tokensPerFrame) + "<image|>";
  }
  return out;
}

std::vector<int32_t> stopTokens(const Tokenizer &tokenizer, const std::vector<int32_t> &configEos) {
  std::vector<int32_t> stops;
  auto add = [&](int32_t id) {
    if (id >= 0 && std::find(stops.begin(), stops.end(), id) == stops.end())
      stops.push_back(id);
  };
  for (int32_t id : configEos)
    add(id);
  for (const char *piece : {"<turn|>", "<|tool_response>"})
    if (std::optional<int32_t> id = tokenizer.tokenId(piece))
      add(*id);
  return stops;
}

} // namespace loom::chat
