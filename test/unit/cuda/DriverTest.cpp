// The driver loader: what the runtime says when libcuda.so.1 is missing, incomplete or finds
// no GPU. Each case runs in its own process (gtest_discover_tests), so the once-per-process
// load starts fresh.
#include "loom/Cuda/Driver.h"
#include "loom/Error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

std::string loadError(const char *library) {
  setenv("LOOM_CUDA_DRIVER", library, 1);
  try {
    loom::cuda::loadDriver("cannot run a cuda:sm_90a artifact");
  } catch (const loom::Error &error) {
    return error.what();
  }
  return "(loaded)";
}

TEST(CudaDriver, MissingLibraryIsNamed) {
  EXPECT_EQ(loadError("/nonexistent/libcuda.so.1"),
            "no CUDA driver (/nonexistent/libcuda.so.1 not found): cannot run a cuda:sm_90a artifact");
}

TEST(CudaDriver, DefaultLibraryName) {
  unsetenv("LOOM_CUDA_DRIVER");
  EXPECT_EQ(loom::cuda::driverLibraryName(), "libcuda.so.1");
  setenv("LOOM_CUDA_DRIVER", "", 1);
  EXPECT_EQ(loom::cuda::driverLibraryName(), "libcuda.so.1");
}

TEST(CudaDriver, IncompleteDriverListsWhatIsMissing) {
  std::string message = loadError(LOOM_PARTIAL_CUDA_DRIVER);
  EXPECT_NE(message.find("lacks cuDriverGetVersion"), std::string::npos) << message;
  EXPECT_NE(message.find("cuGraphLaunch"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot run a cuda:sm_90a artifact"), std::string::npos) << message;
}

TEST(CudaDriver, FailedInitReportsTheDriversError) {
  std::string message = loadError(LOOM_FAKE_CUDA_DRIVER);
  EXPECT_NE(message.find("cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cannot run a cuda:sm_90a artifact"), std::string::npos) << message;
}

} // namespace
