// ChatTemplate against Hugging Face: test/data/chat/gemma4_chat_goldens.json holds conversations
// rendered by transformers' apply_chat_template with Gemma 4's template and tokenized by the
// real tokenizer (tools/golden/make_chat_goldens.py). Loom must give the same text and ids.
#include "loom/Error.h"
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Tokenizer/Tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace {

namespace chat = loom::chat;

const std::string kSource = LOOM_SOURCE_DIR;

nlohmann::json readJson(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return nlohmann::json::parse(in);
}

const loom::Tokenizer &gemma4Tokenizer() {
  static const loom::Tokenizer tokenizer =
      loom::Tokenizer::fromFile(std::string(LOOM_GEMMA4_TOKENIZER_JSON));
  return tokenizer;
}

std::vector<chat::ChatMessage> messagesOf(const nlohmann::json &list) {
  std::vector<chat::ChatMessage> messages;
  for (const auto &m : list) {
    chat::ChatMessage message{m.at("role").get<std::string>(), {}};
    const auto &content = m.at("content");
    if (content.is_string()) {
      message.content.push_back({chat::PartKind::Text, content.get<std::string>()});
    } else {
      for (const auto &item : content) {
        const std::string type = item.at("type").get<std::string>();
        if (type == "text")
          message.content.push_back({chat::PartKind::Text, item.at("text").get<std::string>()});
        else if (type == "image")
          message.content.push_back({chat::PartKind::Image, ""});
        else if (type == "audio")
          message.content.push_back({chat::PartKind::Audio, ""});
        else if (type == "video")
          message.content.push_back({chat::PartKind::Video, ""});
        else
          ADD_FAILURE() << "unknown content type " << type;
      }
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

TEST(ChatTemplateTest, MatchesHuggingFaceApplyChatTemplate) {
  const nlohmann::json goldens = readJson(kSource + "/test/data/chat/gemma4_chat_goldens.json");
  ASSERT_GE(goldens.at("cases").size(), 10u);
  for (const auto &c : goldens.at("cases")) {
    const std::string name = c.at("name");
    chat::ChatOptions options;
    options.thinking = c.at("thinking").get<bool>();
    options.addGenerationPrompt = c.at("add_generation_prompt").get<bool>();
    const std::string text = chat::render(messagesOf(c.at("messages")), options);
    EXPECT_EQ(text, c.at("text").get<std::string>()) << name;
    EXPECT_EQ(gemma4Tokenizer().encode(text), c.at("ids").get<std::vector<int32_t>>()) << name;
  }
}

// Turn by turn, as a chat session prefills, the pieces add up to the whole conversation.
TEST(ChatTemplateTest, PiecesAddUpToTheConversation) {
  const std::vector<chat::ChatMessage> messages = {
      chat::textMessage("system", "Be brief."), chat::textMessage("user", "Hi"),
      chat::textMessage("assistant", "Hello!"), chat::textMessage("user", "Bye")};
  for (bool thinking : {false, true}) {
    std::string pieces = chat::beginConversation(true, "Be brief.", thinking) +
                         chat::turn(messages[1]) + chat::generationPrompt(thinking);
    // The model's answer as generated, then the turn's end and the next user turn.
    pieces += "Hello!" + std::string(chat::kEndOfModelTurn) + chat::turn(messages[3]) +
              chat::generationPrompt(thinking);
    std::string whole = chat::render(messages, {thinking, true});
    if (thinking) {
      EXPECT_EQ(pieces, whole);
    } else {
      // With thinking off the cache holds the empty thought channel of the earlier answer,
      // which the template's re-render leaves out (strip_thinking): exactly that differs.
      const std::string channel = "<|channel>thought\n<channel|>";
      std::string withoutFirstChannel = pieces;
      withoutFirstChannel.erase(withoutFirstChannel.find(channel), channel.size());
      EXPECT_EQ(withoutFirstChannel, whole);
    }
  }
}

TEST(ChatTemplateTest, TrimIsPythonStrip) {
  EXPECT_EQ(chat::trim(" \t\n\r\v\f a b \n"), "a b");
  EXPECT_EQ(chat::trim("\u00a0\u3000\u2028x\u2009"), "x");
  EXPECT_EQ(chat::trim("\u200bx"), "\u200bx"); // zero-width space is not whitespace in Python
  EXPECT_EQ(chat::trim(""), "");
  EXPECT_EQ(chat::trim("   "), "");
  EXPECT_EQ(chat::trim("\xff x \xfe"), "\xff x \xfe"); // invalid UTF-8 is kept
}

TEST(ChatTemplateTest, StripThinkingDropsChannels) {
  EXPECT_EQ(chat::stripThinking("<|channel>thought\nhmm<channel|> Paris."), "Paris.");
  EXPECT_EQ(chat::stripThinking("A<|channel>x<channel|>B<|channel>y<channel|>C"), "ABC");
  EXPECT_EQ(chat::stripThinking("no channel "), "no channel");
  EXPECT_EQ(chat::stripThinking("open <|channel>never closed"), "open");
}

TEST(ChatTemplateTest, MediaExpansionsAsTheProcessorWritesThem) {
  EXPECT_EQ(chat::imageExpansion(2), "<|image><|image|><|image|><image|>");
  EXPECT_EQ(chat::audioExpansion(1), "<|audio><|audio|><audio|>");
  // replace_video_token: " ".join(f"{t} {boi}{video * n}{eoi}" for t in timestamps)
  EXPECT_EQ(chat::videoExpansion({"00:00", "01:05"}, 2),
            "00:00 <|image><|video|><|video|><image|> 01:05 <|image><|video|><|video|><image|>");
  const std::vector<int32_t> ids = gemma4Tokenizer().encode(chat::videoExpansion({"00:02"}, 3));
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 5, ids.end()),
            (std::vector<int32_t>{255999, 258884, 258884, 258884, 258882}));
}

TEST(ChatTemplateTest, StopTokensAreEosTurnEndAndToolResponse) {
  EXPECT_EQ(chat::stopTokens(gemma4Tokenizer(), {1}), (std::vector<int32_t>{1, 106, 50}));
  EXPECT_EQ(chat::stopTokens(gemma4Tokenizer(), {1, 106}), (std::vector<int32_t>{1, 106, 50}));
}

TEST(ChatTemplateTest, RefusesMisplacedSystemAndEmptyConversations) {
  auto errorOf = [](auto &&f) -> std::string {
    try {
      f();
    } catch (const loom::Error &e) {
      return e.what();
    }
    return "";
  };
  std::string m = errorOf([] {
    chat::render({chat::textMessage("user", "Hi"), chat::textMessage("system", "late")});
  });
  EXPECT_NE(m.find("message 2 has role 'system': a system message must be the first one"),
            std::string::npos)
      << m;
  m = errorOf([] { chat::render({}); });
  EXPECT_NE(m.find("no messages"), std::string::npos) << m;
  m = errorOf([] {
    chat::render({{"system", {{chat::PartKind::Image, ""}}}, chat::textMessage("user", "Hi")});
  });
  EXPECT_NE(m.find("only text"), std::string::npos) << m;
}

} // namespace
