// Tests the --prompt-ids parser: separators, the int32 range, and the messages of bad input.
#include "loom/Runtime/PromptIds.h"

#include "loom/Error.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

std::string errorOf(const std::string &text) {
  try {
    loom::parsePromptIds(text);
  } catch (const loom::Error &error) {
    return error.what();
  }
  return "<no error>";
}

TEST(PromptIds, CommasSpacesAndTabsSeparate) {
  EXPECT_EQ(loom::parsePromptIds("2,105,2364"), (std::vector<int32_t>{2, 105, 2364}));
  EXPECT_EQ(loom::parsePromptIds(" 2 \t105,,3 ,"), (std::vector<int32_t>{2, 105, 3}));
  EXPECT_EQ(loom::parsePromptIds("2147483647,-2147483648"),
            (std::vector<int32_t>{2147483647, -2147483648}));
}

TEST(PromptIds, BadPiecesAreNamed) {
  EXPECT_EQ(errorOf("2,abc"), "'abc' is not a token id");
  EXPECT_EQ(errorOf("2,99999999999"), "'99999999999' is not a token id");
  EXPECT_EQ(errorOf("2147483648"), "'2147483648' is not a token id");
  EXPECT_EQ(errorOf("12x"), "'12x' is not a token id");
  EXPECT_EQ(errorOf(""), "no token ids given");
  EXPECT_EQ(errorOf(" ,\t,"), "no token ids given");
}

} // namespace
