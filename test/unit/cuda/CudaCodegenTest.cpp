// The CUDA kernel generator without a GPU: every kernel kind generates, NVRTC compiles it for
// both targets, the launch table covers each output, and the bundle reads back. (Numerics run
// on a GPU: scripts/gpu-check.sh runs the golden tests there.)
#include "loom/CodegenCuda/CudaCodegen.h"
#include "loom/Error.h"

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace loom::codegen;
using namespace loom::codegen::cuda;

KernelSpec spec(const std::string &symbol, ElementType type, KernelParams params) {
  return {symbol, type, std::move(params)};
}

// One spec of every kind, with the tiny model's shapes and some odd ones.
std::vector<KernelSpec> everyKind() {
  return {
      spec("k_embed", ElementType::BF16, EmbedTokens{1000, 64, 8.0}),
      spec("k_embed_q8", ElementType::Q8, EmbedTokens{1000, 64, 8.0}),
      spec("k_rms", ElementType::F32, RmsNorm{4, 16, true, 1e-6}),
      spec("k_rms_plain", ElementType::BF16, RmsNorm{1, 64, false, 1e-6}),
      spec("k_layer_norm", ElementType::F32, LayerNorm{6912, 1e-6}),
      spec("k_linear_f32", ElementType::F32, Linear{64, 128, false}),
      spec("k_linear_bf16", ElementType::BF16, Linear{128, 64, true}),
      spec("k_linear_odd", ElementType::F32, Linear{30, 7, true}),
      spec("k_linear_q8", ElementType::Q8, Linear{256, 96, false}),
      spec("k_linear_q4", ElementType::Q4G32, Linear{256, 96, false}),
      spec("k_linear_q4g128", ElementType::Q4G128, Linear{640, 64, false}),
      spec("k_rope", ElementType::F32, Rope{4, 32, 1e6, 4}),
      spec("k_attention_sliding", ElementType::F32, Attention{4, 2, 16, 8, 8, 1.0, true}),
      spec("k_attention_full", ElementType::F32, Attention{4, 1, 32, 0, 512, 1.0, false}),
      spec("k_geglu", ElementType::F32, GeGlu{128}),
      spec("k_add", ElementType::F32, Add{64}),
      spec("k_scale", ElementType::BF16, Scale{64}),
      spec("k_softcap", ElementType::F32, Softcap{1000, 30.0}),
      spec("k_vision", ElementType::BF16, VisionPositionAdd{64, 10}),
  };
}

TEST(CudaCodegen, Targets) {
  EXPECT_TRUE(isCudaTarget("cuda:sm_90a"));
  EXPECT_FALSE(isCudaTarget("x86-64"));
  CudaTarget hopper = cudaTargetFor("cuda:sm_90a");
  EXPECT_EQ(hopper.arch, "sm_90a");
  EXPECT_EQ(hopper.virtualArch, "compute_90a");
  EXPECT_EQ(cudaTargetFor("cuda:sm_80").virtualArch, "compute_80");
  try {
    cudaTargetFor("cuda:sm_75");
    FAIL() << "sm_75 accepted";
  } catch (const loom::Error &error) {
    EXPECT_STREQ(error.what(), "unknown CUDA target 'cuda:sm_75'; supported CUDA targets: cuda:sm_80, cuda:sm_90a");
  }
}

TEST(CudaCodegen, LaunchesCoverEveryOutput) {
  GeneratedModule module = generateCudaSource(everyKind());
  ASSERT_EQ(module.kernels.size(), everyKind().size());
  const auto &linear = module.kernels[6]; // bf16 128 -> 64: gemv1, gemv8, tensor-core GEMM
  ASSERT_EQ(linear.variants.size(), 3u);
  EXPECT_EQ(linear.variants[0].maxTokens, 1);
  EXPECT_EQ(linear.variants[1].maxTokens, 8);
  EXPECT_EQ(linear.variants[2].maxTokens, 0);
  EXPECT_EQ(linear.variants[2].launches[0].function, "k_linear_bf16_gemm_mma");
  // gemv: 4 warps x 4 rows per block for one token, 4 x 2 for eight.
  EXPECT_GE(linear.variants[0].launches[0].grid[0].at(1) * 16, 64);
  EXPECT_GE(linear.variants[1].launches[0].grid[0].at(8) * 8, 64);
  // 128-token tiles.
  EXPECT_EQ(linear.variants[2].launches[0].grid[1].at(129), 2);
  // Odd shapes (in = 30) take the SIMT GEMM for every token count.
  const auto &odd = module.kernels[7];
  ASSERT_EQ(odd.variants.size(), 1u);
  EXPECT_EQ(odd.variants[0].launches[0].function, "k_linear_odd_gemm_simt");
  // Decode attention splits the keys and combines through the workspace.
  const auto &attention = module.kernels[13];
  ASSERT_EQ(attention.variants.size(), 2u);
  EXPECT_EQ(attention.variants[0].maxTokens, 1);
  ASSERT_EQ(attention.variants[0].launches.size(), 2u);
  EXPECT_GT(attention.variants[0].workspaceBytesPerToken, 0u);
  EXPECT_EQ(attention.variants[0].launches[1].function, "k_attention_full_attention_combine");
  // Element-wise kernels: 256 threads, one per element.
  const auto &softcap = module.kernels[17];
  EXPECT_EQ(softcap.variants[0].launches[0].grid[0].at(3), (3 * 1000 + 255) / 256);
}

TEST(CudaCodegen, IdenticalSpecsShareGpuFunctions) {
  auto kernels = everyKind();
  KernelSpec copy = kernels[6];
  copy.symbol = "k_linear_bf16_again";
  kernels.push_back(copy);
  GeneratedModule module = generateCudaSource(kernels);
  EXPECT_EQ(module.kernels.back().symbol, "k_linear_bf16_again");
  EXPECT_EQ(module.kernels.back().variants[0].launches[0].function, "k_linear_bf16_gemv1");
  EXPECT_EQ(module.source.find("k_linear_bf16_again"), std::string::npos);
}

TEST(CudaCodegen, RefusesShapesItCannotGenerate) {
  try {
    generateCudaSource({spec("k_bad", ElementType::F32, Attention{3, 2, 16, 0, 8, 1.0, true})});
    FAIL() << "accepted";
  } catch (const loom::Error &error) {
    EXPECT_NE(std::string(error.what()).find("k_bad: q_heads 3 must be a positive multiple of kv_heads 2"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(generateCudaSource({spec("k_rope", ElementType::F32, Rope{4, 15, 1e4, 7})}), loom::Error);
  EXPECT_THROW(generateCudaSource({spec("k_q4", ElementType::Q4G128, Linear{64, 8, false})}), loom::Error);
}

class CudaCompile : public ::testing::TestWithParam<const char *> {};

TEST_P(CudaCompile, EveryKindCompilesToPtxAndCubin) {
  CudaTarget target = cudaTargetFor(GetParam());
  GeneratedModule module = generateCudaSource(everyKind());
  std::string ptx = compileToPtx(module.source, target);
  EXPECT_NE(ptx.find(".target " + target.arch), std::string::npos);
  std::set<std::string> functions;
  for (const auto &kernel : module.kernels)
    for (const auto &variant : kernel.variants)
      for (const auto &launch : variant.launches)
        functions.insert(launch.function);
  for (const std::string &function : functions)
    EXPECT_NE(ptx.find(".entry " + function + "("), std::string::npos) << function;
  EXPECT_NE(ptx.find(".entry loom_kv_write("), std::string::npos);
  std::string log;
  std::vector<uint8_t> cubin = compileToCubin(module.source, target, &log);
  ASSERT_GT(cubin.size(), 4u);
  EXPECT_EQ(cubin[0], 0x7f); // ELF
  EXPECT_EQ(cubin[1], 'E');
  EXPECT_NE(log.find("Function properties for k_linear_bf16_gemv1"), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(Targets, CudaCompile, ::testing::Values("cuda:sm_80", "cuda:sm_90a"));

TEST(CudaCodegen, BundleReadsBack) {
  std::vector<KernelSpec> kernels = {spec("k_add", ElementType::F32, Add{64}),
                                     spec("k_linear", ElementType::BF16, Linear{64, 32, false})};
  std::vector<uint8_t> bytes = buildCudaKernelBundle(kernels, "cuda:sm_80");
  loom::cuda::KernelBundle bundle = loom::cuda::readKernelBundle(bytes.data(), bytes.size(), "test");
  EXPECT_EQ(bundle.target, "cuda:sm_80");
  ASSERT_EQ(bundle.images.size(), 2u);
  EXPECT_EQ(bundle.images[0].format, "cubin");
  EXPECT_EQ(bundle.images[0].arch, "sm_80");
  EXPECT_EQ(bundle.images[1].format, "ptx");
  const char *ptx = reinterpret_cast<const char *>(bytes.data() + bundle.images[1].offset);
  EXPECT_EQ(ptx[bundle.images[1].size - 1], '\0');
  EXPECT_NE(std::string(ptx).find(".entry k_add_add("), std::string::npos);
  ASSERT_EQ(bundle.kernels.size(), 2u);
  EXPECT_EQ(bundle.kernels[1].symbol, "k_linear");
  EXPECT_NE(bundle.producer.find("NVRTC"), std::string::npos);
}

} // namespace
