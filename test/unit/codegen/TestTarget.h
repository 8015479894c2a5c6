// The CPU target a kernel test binary builds and runs its kernels for: $LOOM_TEST_TARGET (ctest
// registers each test once per target, test/unit/codegen/CMakeLists.txt), else "host". A
// target this CPU cannot run skips every test of the process.
#pragma once

#include "loom/Codegen/KernelSpec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace loom::testing {

inline std::string testTarget() {
  const char *env = std::getenv("LOOM_TEST_TARGET");
  return codegen::resolveLoomTarget(env && *env ? env : "host");
}

class TestTargetEnvironment : public ::testing::Environment {
public:
  void SetUp() override {
    if (!codegen::cpuCanRun(codegen::cpuTarget(testTarget())))
      GTEST_SKIP() << "this CPU cannot run target " << testTarget();
  }
};

inline ::testing::Environment *const kTestTargetEnvironment =
    ::testing::AddGlobalTestEnvironment(new TestTargetEnvironment);

} // namespace loom::testing
