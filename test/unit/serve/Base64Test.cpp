// data: URL payloads: RFC 4648 base64 with padding; anything else is refused.
#include "Base64.h"

#include <gtest/gtest.h>

namespace {

using loom::serve::decodeBase64;

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(decodeBase64(""), std::string());
  EXPECT_EQ(decodeBase64("Zg=="), std::string("f"));
  EXPECT_EQ(decodeBase64("Zm8="), std::string("fo"));
  EXPECT_EQ(decodeBase64("Zm9v"), std::string("foo"));
  EXPECT_EQ(decodeBase64("Zm9vYmFy"), std::string("foobar"));
  EXPECT_EQ(decodeBase64("AAEC/w=="), std::string("\x00\x01\x02\xff", 4));
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(decodeBase64("Zm9"));      // not a multiple of 4
  EXPECT_FALSE(decodeBase64("Zm9@"));     // outside the alphabet
  EXPECT_FALSE(decodeBase64("Z==="));     // too much padding
  EXPECT_FALSE(decodeBase64("Zg==Zg==")); // data after the padding
}

} // namespace
