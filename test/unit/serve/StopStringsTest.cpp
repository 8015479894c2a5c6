// OpenAI's `stop` over streamed pieces: nothing after a stop string is shown, nothing that could
// start one is shown early, and a UTF-8 character is never split.
#include "StopStrings.h"

#include <gtest/gtest.h>

namespace {

using loom::serve::StopStrings;

// Feeds the pieces and returns everything shown, with each release in brackets.
std::string run(StopStrings &stops, const std::vector<std::string> &pieces) {
  std::string out;
  for (const std::string &piece : pieces)
    out += "[" + stops.push(piece) + "]";
  return out + "[" + stops.finish() + "]";
}

TEST(StopStrings, TextBeforeTheFirstStopAcrossPieces) {
  StopStrings stops({"END", "\n\n"});
  // " E" may begin "END": "E" is held, then "EN", until "D" completes it.
  EXPECT_EQ(run(stops, {"one E", "N", "D two"}), "[one ][][][]");
  EXPECT_TRUE(stops.stopped());
}

TEST(StopStrings, HeldBackOnlyWhileAStopCouldStart) {
  StopStrings stops({"abc"});
  // "ab" may begin "abc": held; "x" proves it does not, and nothing is held after it.
  EXPECT_EQ(run(stops, {"12ab", "x3"}), "[12][abx3][]");
  EXPECT_FALSE(stops.stopped());
}

TEST(StopStrings, TheEarliestOfSeveralStopsWins) {
  StopStrings stops({"world", "lo"});
  EXPECT_EQ(run(stops, {"hello world"}), "[hel][]");
}

TEST(StopStrings, NoStopsPassEverything) {
  StopStrings stops({});
  EXPECT_EQ(run(stops, {"a", "b"}), "[a][b][]");
}

TEST(StopStrings, NeverSplitsAUtf8Character) {
  StopStrings stops({"\xc3\xa9!"});
  // "é" (two bytes) may begin "é!": held whole, never its last byte alone.
  EXPECT_EQ(run(stops, {"a\xc3\xa9"}), "[a][\xc3\xa9]");
}

} // namespace
