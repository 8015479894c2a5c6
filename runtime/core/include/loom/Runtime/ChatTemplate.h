// Gemma 4's chat format, as text: what Hugging Face's apply_chat_template renders with the model's
// chat_template.jinja (google/gemma-4-12B-it; its text/media part is checked in as
// test/data/chat/gemma4_chat_template.jinja and ChatTemplateTest compares against goldens it
// rendered), plus the processor's expansion of media markers into soft-token runs
// (transformers processing_gemma4_unified.py) and the stop tokens of the generation config.
//
//   <bos>[<|turn>system\n[<|think|>\n]{system}<turn|>\n]
//   (<|turn>{user|model}\n{content}<turn|>\n)*
//   <|turn>model\n[<|channel>thought\n<channel|>   when thinking is off]
//
// The pieces are separate functions so that a chat session can prefill a conversation turn by
// turn: systemTurn + turn(user) + generationPrompt, then after the model answered (its tokens
// already in the KV cache) kEndOfModelTurn + turn(user) + generationPrompt, and so on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

class Tokenizer;

namespace chat {

// The marker the template writes for each media item; the processor expands it.
inline constexpr std::string_view kImageMarker = "<|image|>";
inline constexpr std::string_view kAudioMarker = "<|audio|>";
inline constexpr std::string_view kVideoMarker = "<|video|>";
// What closes a model turn: the model generates <turn|> (a stop token), the template adds \n.
inline constexpr std::string_view kEndOfModelTurn = "<turn|>\n";

enum class PartKind { Text, Image, Audio, Video };

struct ChatPart {
  PartKind kind = PartKind::Text;
  std::string text; // Text only
};

// role: "system" (or "developer"; first message only), "user", "assistant" (written as
// "model") or any other role name, which the template writes as given.
struct ChatMessage {
  std::string role;
  std::vector<ChatPart> content; // a string content is one Text part
};

inline ChatMessage textMessage(std::string role, std::string text) {
  return {std::move(role), {{PartKind::Text, std::move(text)}}};
}

struct ChatOptions {
  bool thinking = false;           // enable_thinking
  bool addGenerationPrompt = true; // add_generation_prompt
};

// Python's str.strip() (what Jinja's trim filter does): Unicode whitespace at both ends.
std::string trim(std::string_view text);
// The template's strip_thinking: drops every <|channel>...<channel|> span, then trims.
std::string stripThinking(std::string_view text);

// "<bos>", then a system turn when thinking is on or the conversation has a system message
// (hasSystem): "<|turn>system\n" + ("<|think|>\n" if thinking) + trim(system) + "<turn|>\n".
std::string beginConversation(bool hasSystem, std::string_view system, bool thinking);
// One non-system turn: "<|turn>{role}\n{content}<turn|>\n" (assistant -> model).
std::string turn(const ChatMessage &message);
// What starts the model's answer.
std::string generationPrompt(bool thinking);
// The whole conversation, as apply_chat_template(messages, add_generation_prompt,
// enable_thinking) renders it. Throws loom::Error on an empty conversation or a system message
// that is not the first.
std::string render(const std::vector<ChatMessage> &messages, const ChatOptions &options = {});

// Media expansion (the processor's replace_*_token): the marker becomes the soft-token run.
std::string imageExpansion(int64_t tokens);  // <|image> + n x <|image|> + <image|>
std::string audioExpansion(int64_t tokens);  // <|audio> + n x <|audio|> + <audio|>
// One "{timestamp} <|image>" + n x <|video|> + "<image|>" per frame, frames joined by a space
// (timestamps as Media.h's videoTimestamp writes them: "mm:ss").
std::string videoExpansion(const std::vector<std::string> &timestamps, int64_t tokensPerFrame);

// Stop tokens for generation: the config's eos ids, then <turn|> and <|tool_response> (the
// generation config's eos list is [1, 106, 50]) where the vocabulary has them; no duplicates.
std::vector<int32_t> stopTokens(const Tokenizer &tokenizer, const std::vector<int32_t> &configEos);

} // namespace chat
} // namespace loom
