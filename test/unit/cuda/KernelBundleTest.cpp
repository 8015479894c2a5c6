// The kernel bundle (the kernel segment of CUDA artifacts): round trip and refusals.
#include "loom/Cuda/KernelBundle.h"
#include "loom/Error.h"

#include <gtest/gtest.h>

#include <cstring>

namespace {

using namespace loom::cuda;

KernelBundle sampleBundle() {
  KernelBundle bundle;
  bundle.target = "cuda:sm_90a";
  bundle.producer = "test";
  bundle.kvWriteFunction = "loom_kv_write";
  bundle.images = {{"cubin", "sm_90a", 0, 0}, {"ptx", "compute_90a", 0, 0}};
  KernelLaunches linear;
  linear.symbol = "loom_k0";
  Variant gemv;
  gemv.maxTokens = 1;
  Launch l1;
  l1.function = "loom_k0_gemv1";
  l1.grid[0] = {0, 256, 1};
  l1.block[0] = 128;
  gemv.launches.push_back(l1);
  Variant gemm;
  gemm.workspaceBytesPerToken = 64;
  Launch l2;
  l2.function = "loom_k0_gemm";
  l2.grid[0] = {0, 32, 1};
  l2.grid[1] = {1, 0, 128};
  l2.block[0] = 256;
  l2.sharedBytes = 1024;
  gemm.launches.push_back(l2);
  linear.variants = {gemv, gemm};
  bundle.kernels.push_back(linear);
  return bundle;
}

std::vector<std::vector<uint8_t>> sampleImages() {
  std::vector<uint8_t> cubin(1000);
  for (size_t i = 0; i < cubin.size(); ++i)
    cubin[i] = uint8_t(i * 7);
  std::string ptx = ".version 9.0\n.target sm_90a\n";
  std::vector<uint8_t> ptxBytes(ptx.begin(), ptx.end());
  ptxBytes.push_back(0);
  return {cubin, ptxBytes};
}

std::string readError(const std::vector<uint8_t> &bytes) {
  try {
    readKernelBundle(bytes.data(), bytes.size(), "model.loom");
  } catch (const loom::Error &error) {
    return error.what();
  }
  return "(accepted)";
}

TEST(KernelBundle, RoundTrip) {
  auto images = sampleImages();
  std::vector<uint8_t> bytes = writeKernelBundle(sampleBundle(), images);
  ASSERT_TRUE(isKernelBundle(bytes.data(), bytes.size()));
  KernelBundle read = readKernelBundle(bytes.data(), bytes.size(), "model.loom");
  EXPECT_EQ(read.target, "cuda:sm_90a");
  EXPECT_EQ(read.kvWriteFunction, "loom_kv_write");
  ASSERT_EQ(read.images.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(read.images[i].offset % 256, 0u);
    ASSERT_EQ(read.images[i].size, images[i].size());
    EXPECT_EQ(std::memcmp(bytes.data() + read.images[i].offset, images[i].data(), images[i].size()), 0);
  }
  EXPECT_EQ(read.images[1].format, "ptx");
  EXPECT_EQ(read.images[1].arch, "compute_90a");
  ASSERT_EQ(read.kernels.size(), 1u);
  const KernelLaunches &k = read.kernels[0];
  EXPECT_EQ(k.symbol, "loom_k0");
  ASSERT_EQ(k.variants.size(), 2u);
  EXPECT_EQ(k.variants[0].maxTokens, 1);
  EXPECT_EQ(k.variants[1].workspaceBytesPerToken, 64u);
  const Launch &gemm = k.variants[1].launches.at(0);
  EXPECT_EQ(gemm.function, "loom_k0_gemm");
  EXPECT_EQ(gemm.block[0], 256u);
  EXPECT_EQ(gemm.sharedBytes, 1024u);
  EXPECT_EQ(gemm.grid[1].at(1), 1);
  EXPECT_EQ(gemm.grid[1].at(128), 1);
  EXPECT_EQ(gemm.grid[1].at(129), 2);
  EXPECT_EQ(gemm.grid[0].at(5000), 32);
}

TEST(KernelBundle, SelectsTheFirstVariantThatApplies) {
  KernelBundle bundle = sampleBundle();
  const KernelLaunches &k = bundle.kernels[0];
  EXPECT_EQ(selectVariant(k, 1), &k.variants[0]);
  EXPECT_EQ(selectVariant(k, 2), &k.variants[1]);
  EXPECT_EQ(selectVariant(k, 100000), &k.variants[1]);
  KernelLaunches onlySmall = k;
  onlySmall.variants.pop_back();
  EXPECT_EQ(selectVariant(onlySmall, 2), nullptr);
}

TEST(KernelBundle, RefusesAForeignSegment) {
  std::vector<uint8_t> elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_NE(readError(elf).find("model.loom (CUDA kernel bundle): does not start with the magic"),
            std::string::npos);
  EXPECT_FALSE(isKernelBundle(elf.data(), elf.size()));
}

TEST(KernelBundle, RefusesAnotherVersion) {
  std::vector<uint8_t> bytes = writeKernelBundle(sampleBundle(), sampleImages());
  uint32_t version = kBundleVersion + 1;
  std::memcpy(bytes.data() + 8, &version, 4);
  EXPECT_NE(readError(bytes).find("format version 2, this runtime reads version 1"), std::string::npos)
      << readError(bytes);
}

TEST(KernelBundle, RefusesTruncation) {
  std::vector<uint8_t> bytes = writeKernelBundle(sampleBundle(), sampleImages());
  std::vector<uint8_t> header(bytes.begin(), bytes.begin() + 30);
  EXPECT_NE(readError(header).find("overruns the segment"), std::string::npos) << readError(header);
  std::vector<uint8_t> noImage(bytes.begin(), bytes.end() - 40);
  EXPECT_NE(readError(noImage).find("image 1: bytes"), std::string::npos) << readError(noImage);
}

TEST(KernelBundle, RefusesABadIndex) {
  std::vector<uint8_t> bytes = writeKernelBundle(sampleBundle(), sampleImages());
  bytes[24] = '['; // the index must be a JSON object
  EXPECT_NE(readError(bytes).find("the index is not valid JSON"), std::string::npos) << readError(bytes);
}

TEST(KernelBundle, RefusesBadLaunchShapes) {
  KernelBundle bundle = sampleBundle();
  bundle.kernels[0].variants[0].launches[0].grid[0].divisor = 0;
  std::vector<uint8_t> bytes = writeKernelBundle(bundle, sampleImages());
  EXPECT_NE(readError(bytes).find("kernel 'loom_k0' launch 'loom_k0_gemv1': grid extent 0 must be"),
            std::string::npos)
      << readError(bytes);
  bundle = sampleBundle();
  bundle.kernels[0].variants[1].launches[0].block[0] = 2048;
  bytes = writeKernelBundle(bundle, sampleImages());
  EXPECT_NE(readError(bytes).find("more than 1024 threads"), std::string::npos) << readError(bytes);
}

TEST(KernelBundle, WriterChecksImageCount) {
  EXPECT_THROW(writeKernelBundle(sampleBundle(), {}), loom::Error);
}

} // namespace
