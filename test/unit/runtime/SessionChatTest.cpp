// A chat kept in one session's KV cache must compute what a one-shot run of the whole
// conversation computes: the logits of turn 2 (and of every decode step of turn 1) equal the
// matching rows of a single prefill of all the tokens, on a real compiled tiny model.
//
// The artifact comes from the ctest fixture unit.chat.make_tiny (loom-model + loom-compile),
// passed as LOOM_TEST_TINY_ARTIFACT.
#include "loom/Runtime/ChatTemplate.h"
#include "loom/Runtime/Session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace chat = loom::chat;

std::shared_ptr<const loom::Model> tinyModel() {
  const char *path = std::getenv("LOOM_TEST_TINY_ARTIFACT");
  if (path == nullptr || *path == '\0')
    return nullptr;
  return loom::Model::open(path);
}

const std::string kImage = std::string(LOOM_SOURCE_DIR) + "/test/data/media/coffee_144x96.png";

int32_t argmax(const float *row, int64_t n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

// Largest |a - b| over n values, relative to the spread of b (at least 1).
double relativeDifference(const float *a, const float *b, int64_t n) {
  double worst = 0, low = b[0], high = b[0];
  for (int64_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
    low = std::min(low, static_cast<double>(b[i]));
    high = std::max(high, static_cast<double>(b[i]));
  }
  return worst / std::max(1.0, high - low);
}

class SessionChatTest : public ::testing::Test {
protected:
  void SetUp() override {
    model = tinyModel();
    if (!model)
      GTEST_SKIP() << "LOOM_TEST_TINY_ARTIFACT is not set (the ctest fixture sets it)";
    vocab = model->vocabSize();
  }
  std::vector<int32_t> encode(const std::string &text) const {
    return model->tokenizer().encode(text);
  }
  std::shared_ptr<const loom::Model> model;
  int64_t vocab = 0;
};

TEST_F(SessionChatTest, SecondTurnMatchesOneShotRunOfTheConversation) {
  const std::vector<loom::MediaInput> media = {{loom::MediaKind::Image, kImage, 70}};
  const std::string imageText = loom::mediaPromptText(*model, media[0]);

  // Turn 1: system + user with an image, then 5 greedy tokens; the 5th is sampled, not fed.
  chat::ChatMessage user1{"user", {{chat::PartKind::Image, ""}, {chat::PartKind::Text, "What is it?"}}};
  std::string text1 = chat::beginConversation(true, "Be brief.", false) + chat::turn(user1) +
                      chat::generationPrompt(false);
  text1.replace(text1.find(chat::kImageMarker), chat::kImageMarker.size(), imageText);
  const std::vector<int32_t> turn1 = encode(text1);

  loom::Session chatSession(model);
  std::vector<float> last(vocab);
  chatSession.prefill(turn1, media, false, last.data());
  std::vector<int32_t> answer;
  std::vector<std::vector<float>> decodeRows;
  answer.push_back(argmax(last.data(), vocab));
  for (int step = 0; step < 4; ++step) {
    decodeRows.emplace_back(vocab);
    chatSession.decode(answer.back(), decodeRows.back().data());
    answer.push_back(argmax(decodeRows.back().data(), vocab));
  }
  const int32_t pending = answer.back(); // sampled, not in the cache

  // Turn 2: the pending token, the end of the model turn, the next user turn and the prompt.
  std::vector<int32_t> turn2 = {pending};
  std::vector<int32_t> rest = encode(std::string(chat::kEndOfModelTurn) +
                                     chat::turn(chat::textMessage("user", "And its colour?")) +
                                     chat::generationPrompt(false));
  turn2.insert(turn2.end(), rest.begin(), rest.end());
  ASSERT_EQ(rest.front(), 106); // <turn|>
  const int64_t position = chatSession.position();
  EXPECT_EQ(position, static_cast<int64_t>(turn1.size() + answer.size() - 1));
  std::vector<float> chatRows(turn2.size() * vocab);
  chatSession.prefill(turn2, std::vector<loom::MediaInput>{}, true, chatRows.data());

  // One shot: everything the chat session saw, in one prefill.
  std::vector<int32_t> all = turn1;
  all.insert(all.end(), answer.begin(), answer.end() - 1);
  all.insert(all.end(), turn2.begin(), turn2.end());
  loom::Session oneShot(model);
  std::vector<float> allRows(all.size() * vocab);
  oneShot.prefill(all, media, true, allRows.data());

  for (size_t t = 0; t < turn2.size(); ++t) {
    const float *expected = allRows.data() + (position + t) * vocab;
    EXPECT_LT(relativeDifference(chatRows.data() + t * vocab, expected, vocab), 1e-5)
        << "turn 2 row " << t;
    EXPECT_EQ(argmax(chatRows.data() + t * vocab, vocab), argmax(expected, vocab)) << "row " << t;
  }
  for (size_t s = 0; s < decodeRows.size(); ++s) {
    const float *expected = allRows.data() + (turn1.size() + s) * vocab;
    EXPECT_LT(relativeDifference(decodeRows[s].data(), expected, vocab), 1e-5)
        << "turn 1 decode step " << s;
  }
}

TEST_F(SessionChatTest, ResetStartsTheSameConversationAfresh) {
  const std::vector<int32_t> ids =
      encode(chat::render({chat::textMessage("user", "Hello there")}));
  loom::Session session(model);
  std::vector<float> first(ids.size() * vocab), again(ids.size() * vocab);
  session.prefill(ids, std::vector<loom::MediaInput>{}, true, first.data());
  std::vector<float> step(vocab);
  session.decode(argmax(first.data() + (ids.size() - 1) * vocab, vocab), step.data());
  session.reset();
  EXPECT_EQ(session.position(), 0);
  session.prefill(ids, std::vector<loom::MediaInput>{}, true, again.data());
  // Same calls on a cleared cache: bit for bit.
  EXPECT_EQ(first, again);
}

// Runs of <|video|> are filled frame by frame through embed_image and each is a vision block of
// its own: the same pixels as video frames or as images give the same logits. (Not bit for bit:
// with two threads, prefills of ~100+ tokens differ run to run by ~1 ulp-level amounts, a known
// open issue; 1e-5 of the logit range is far below any real difference, see the black frame.)
TEST_F(SessionChatTest, VideoFramesFillVideoRunsLikeImages) {
  loom::PromptMedia asImages;
  loom::loadPromptMedia(*model,
                        {{loom::MediaKind::Image, kImage, 70},
                         {loom::MediaKind::Image, std::string(LOOM_SOURCE_DIR) + "/test/data/media/camera.png", 70}},
                        asImages);
  loom::PromptMedia asFrames;
  asFrames.videoFrames = asImages.images;
  const loom::SpecialTokens &tok = model->tokens();
  auto prompt = [&](int32_t placeholder) {
    std::vector<int32_t> ids = {2, 105, 2364, 107};
    for (const loom::ImagePatches &image : asImages.images) {
      ids.push_back(tok.boi);
      ids.insert(ids.end(), image.count, placeholder);
      ids.push_back(tok.eoi);
      ids.push_back(236743); // " " between frames
    }
    ids.push_back(106);
    return ids;
  };
  const std::vector<int32_t> imageIds = prompt(tok.image), videoIds = prompt(tok.video);
  std::vector<float> imageRows(imageIds.size() * vocab), videoRows(videoIds.size() * vocab);
  loom::Session(model).prefill(imageIds, asImages, true, imageRows.data());
  loom::Session(model).prefill(videoIds, asFrames, true, videoRows.data());
  for (size_t t = 0; t < imageIds.size(); ++t)
    EXPECT_LT(relativeDifference(videoRows.data() + t * vocab, imageRows.data() + t * vocab, vocab),
              1e-5)
        << "row " << t;
  // The frames' pixels do reach the model: a black second frame changes the logits.
  std::fill(asFrames.videoFrames[1].patches.begin(), asFrames.videoFrames[1].patches.end(), 0.0f);
  std::vector<float> black(videoIds.size() * vocab);
  loom::Session(model).prefill(videoIds, asFrames, true, black.data());
  EXPECT_GT(relativeDifference(black.data() + (videoIds.size() - 1) * vocab,
                               videoRows.data() + (videoIds.size() - 1) * vocab, vocab),
            1e-3);
}

} // namespace
