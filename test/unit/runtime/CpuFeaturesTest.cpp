// Tests that the CPU feature check refuses unknown and missing features by name.
#include "loom/Error.h"
#include "loom/Runtime/CpuFeatures.h"

#include <gtest/gtest.h>

TEST(CpuFeatures, KnownFeatureIsChecked) {
  auto sse2 = loom::cpuSupports("sse2");
  ASSERT_TRUE(sse2.has_value());
  EXPECT_TRUE(*sse2); // every x86-64 CPU
  EXPECT_FALSE(loom::cpuSupports("warp-drive").has_value());
  EXPECT_NO_THROW(loom::checkCpuFeatures({"sse2", "sse"}, "model.loom"));
  EXPECT_NO_THROW(loom::checkCpuFeatures({}, "model.loom"));
}

TEST(CpuFeatures, RefusesMadeUpFeatureNamingIt) {
  try {
    loom::checkCpuFeatures({"sse2", "warp-drive", "avx9000"}, "model.loom");
    FAIL() << "expected loom::Error";
  } catch (const loom::Error &e) {
    std::string message = e.what();
    EXPECT_NE(message.find("model.loom"), std::string::npos) << message;
    EXPECT_NE(message.find("'warp-drive'"), std::string::npos) << message;
    EXPECT_NE(message.find("'avx9000'"), std::string::npos) << message;
    EXPECT_EQ(message.find("sse2"), std::string::npos) << message;
  }
}

TEST(CpuFeatures, RefusesMissingFeatureNamingIt) {
  std::string lacking;
  for (const std::string &name : loom::knownCpuFeatures())
    if (!*loom::cpuSupports(name)) {
      lacking = name;
      break;
    }
  if (lacking.empty())
    GTEST_SKIP() << "this CPU has every feature the runtime knows";
  try {
    loom::checkCpuFeatures({"sse2", lacking}, "model.loom");
    FAIL() << "expected loom::Error";
  } catch (const loom::Error &e) {
    std::string message = e.what();
    EXPECT_NE(message.find("lacks: " + lacking), std::string::npos) << message;
  }
}
