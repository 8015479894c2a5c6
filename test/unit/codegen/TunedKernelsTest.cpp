// TunedKernelsTest: the products generated with tuned schedule parameters compute what the
// defaults' compute, and the defaults' outputs agree with a double-precision product of the
// stored weights' values (within what the integer products' activation quantization moves
// them). Parameters that only change the schedule (rows per task, token blocks, register tiles,
// prefetch distance) must give bit-identical outputs at the extremes of their ranges (tails, one
// row per task, tasks larger than the matrix); those that change the summation order (the f32
// GEMM's panel depth, the switch points) agree within 1e-5 of the output range, and so do the
// attention tiles but the value tile's.
#include "BenchMatrices.h"
#include "KernelHarness.h"
#include "TestTarget.h"

#include "loom/Codegen/Tuning.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

using namespace loom::codegen;
using loom::bench::DenseBuffer;

namespace {

// Shapes with partial tasks and tiles: 17 row groups of q4, 100 q8 rows, 80 f32 rows; and 16
// row groups of q4, whole tasks whose long-prompt VNNI tiles hold several groups.
const std::vector<Linear> kShapes = {
    {512, 136, false}, {768, 100, false}, {96, 80, false}, {256, 128, false}};
const std::vector<ElementType> kTypes = {ElementType::Q4G32, ElementType::Q8, ElementType::F32,
                                         ElementType::Q4G32};
const std::vector<int64_t> kTokens = {1, 2, 3, 4, 5, 9, 64, 67};

ProductKey keyOf(size_t i) { return {kTypes[i], kShapes[i].in, kShapes[i].out}; }

std::string symbolOf(size_t i) { return "tuned_" + std::to_string(i); }

// The products built with `tuning` (null: the defaults).
std::unique_ptr<loom::bench::KernelHarness> build(const Tuning *tuning) {
  std::vector<KernelSpec> specs;
  for (size_t i = 0; i < kShapes.size(); ++i)
    specs.push_back({symbolOf(i), kTypes[i], kShapes[i]});
  auto kernels =
      std::make_unique<loom::bench::KernelHarness>(specs, loom::testing::testTarget(), tuning);
  kernels->setThreads(2);
  return kernels;
}

// Product i's weights, with the values they stand for (Matrix::f32).
const loom::bench::Matrix &weights(size_t i) {
  static std::vector<loom::bench::Matrix> matrices;
  if (matrices.empty())
    for (size_t j = 0; j < kShapes.size(); ++j)
      matrices.push_back(loom::bench::makeMatrix(kTypes[j], kShapes[j].out, kShapes[j].in, 3 + j,
                                                 true, loom::PageSize::Small));
  return matrices[i];
}

std::vector<float> activations(size_t i, int64_t tokens) {
  loom::bench::FastRandom rng(7 + uint64_t(tokens));
  std::vector<float> x(size_t(tokens * kShapes[i].in));
  for (float &v : x)
    v = rng.uniform();
  return x;
}

// The outputs of product i at T tokens, on fixed weights and activations.
std::vector<float> run(const loom::bench::KernelHarness &kernels, size_t i, int64_t tokens) {
  const Linear &shape = kShapes[i];
  const loom::bench::Matrix &matrix = weights(i);
  std::vector<float> x = activations(i, tokens), y(size_t(tokens * shape.out), -1.0f);
  const halide_type_t f32(halide_type_float, 32);
  DenseBuffer xBuf(x.data(), f32, {tokens, shape.in}), yBuf(y.data(), f32, {tokens, shape.out});
  DenseBuffer wBuf(matrix.stored.data(),
                   loom::bench::storedHalideType(kTypes[i]),
                   loom::bench::storedShape(kTypes[i], shape.out, shape.in));
  void *args[] = {&xBuf.buffer, &wBuf.buffer, &yBuf.buffer};
  loom::bench::callKernel(kernels.entry(symbolOf(i)), args, symbolOf(i));
  return y;
}

// The largest |y - reference| of product i at T tokens over the reference's range, the reference
// x W^T in double from the weights' values.
double worstOverRange(const std::vector<float> &y, size_t i, int64_t tokens) {
  const Linear &shape = kShapes[i];
  const std::vector<float> x = activations(i, tokens), &w = weights(i).f32;
  std::vector<double> want(y.size());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t o = 0; o < shape.out; ++o) {
      double sum = 0;
      for (int64_t c = 0; c < shape.in; ++c)
        sum += double(x[size_t(t * shape.in + c)]) * double(w[size_t(o * shape.in + c)]);
      want[size_t(t * shape.out + o)] = sum;
    }
  const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
  double worst = 0;
  for (size_t j = 0; j < y.size(); ++j)
    worst = std::max(worst, std::fabs(double(y[j]) - want[j]));
  return worst / std::max(1e-30, *hi - *lo);
}

Tuning tuned(const std::vector<ScheduleParameters> &params) {
  Tuning tuning = Tuning::defaults(loom::testing::testTarget());
  for (size_t i = 0; i < params.size(); ++i) {
    ScheduleParameters all = tuning.parameters(keyOf(i));
    for (const auto &[name, value] : params[i])
      all[name] = value;
    tuning = tuning.with(keyOf(i), all);
  }
  return tuning;
}

// Found: every KernelHarness after the first loaded the first one's library while it was
// alive (its memfd closed, the next one reused /proc/self/fd/N, which dlopen knew), so tuned
// kernels were the defaults and these tests compared the defaults with themselves.
TEST(TunedKernels, EachBuildLoadsItsOwnLibrary) {
  const auto first = build(nullptr);
  const auto second = build(nullptr);
  for (size_t i = 0; i < kShapes.size(); ++i)
    EXPECT_NE(first->entry(symbolOf(i)), second->entry(symbolOf(i))) << symbolOf(i);
  const loom::bench::KernelHarness other({{"other_kernel", ElementType::F32, Linear{32, 32, false}}},
                                         loom::testing::testTarget());
  EXPECT_NO_THROW(other.entry("other_kernel"));
}

// What the defaults compute is the product: the f32 product to rounding, the q8 product (int16
// activations per 256 columns) and the q4 product (int8 activations per 32 columns) within what
// that quantization moves a sum (measured on Zen 4 at these T: at most 2.1e-7, 1.0e-5 and
// 2.2e-3 of the range for f32, q8 and q4; the bounds leave about 5x).
TEST(TunedKernels, DefaultsComputeTheProduct) {
  const auto defaults = build(nullptr);
  const double bound[] = {1e-2, 1e-4, 1e-6, 1e-2}; // kTypes' order: q4, q8, f32, q4
  for (size_t i = 0; i < kShapes.size(); ++i)
    for (int64_t tokens : kTokens)
      EXPECT_LT(worstOverRange(run(*defaults, i, tokens), i, tokens), bound[i])
          << keyOf(i).str() << " T=" << tokens;
}

// The parameters that change only which loop runs when, not what any sum adds in which order.
// Not the q4 GEMM's groups per task or its unpacked tile: with AVX-512 VNNI they set the tile's
// groups and vectors, and LLVM then orders the two scale multiplications of a block differently
// (a last-bit change per block).
bool changesScheduleOnly(const std::string &family, const std::string &name) {
  static const std::set<std::pair<std::string, std::string>> exact = {
      {"linear_q4", "gemv_groups_per_task"}, {"linear_q4", "prefetch_blocks"},
      {"linear_q4", "gemm_token_block"},
      {"linear_q8", "gemv_rows_per_task"},   {"linear_q8", "gemm_task_rows"},
      {"linear_q8", "gemm_token_block"},     {"linear_q8", "gemm_block_activation_kib"},
      {"linear_q8", "gemm_tile_rows"},       {"linear_q8", "gemm_tile_tokens"},
      {"linear_f32", "gemv_rows_per_task"},
      {"linear_f32", "gemm_task_rows"},      {"linear_f32", "gemm_tile_tokens"},
      {"linear_f32", "gemm_tile_vectors"}};
  return exact.count({family, name}) != 0;
}

// Checks `got` against `want`: identical, or within 1e-5 of want's range.
void expectAgreement(const std::vector<float> &got, const std::vector<float> &want, bool identical,
                     const std::string &what) {
  if (identical) {
    ASSERT_EQ(got, want) << what;
    return;
  }
  const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
  const double bound = 1e-5 * std::max(1.0, double(*hi - *lo));
  for (size_t j = 0; j < want.size(); ++j)
    ASSERT_NEAR(got[j], want[j], bound) << what << " at " << j;
}

// Every parameter at both ends of its range (tails, one row per task, tasks and blocks larger
// than the matrix, switch points at either end): the n-th variant sets the n-th parameter of each
// product's family, so that each product's outputs depend on one changed parameter.
TEST(TunedKernels, EachParameterAtBothEndsOfItsRange) {
  const auto defaults = build(nullptr);
  size_t variants = 0;
  for (size_t i = 0; i < kShapes.size(); ++i)
    variants = std::max(variants, tunableParameters(keyOf(i).family()).size());
  for (bool highEnd : {false, true})
    for (size_t n = 0; n < variants; ++n) {
      std::vector<ScheduleParameters> changes(kShapes.size());
      for (size_t i = 0; i < kShapes.size(); ++i) {
        const auto &parameters = tunableParameters(keyOf(i).family());
        if (n < parameters.size())
          changes[i][parameters[n].name] = highEnd ? parameters[n].max : parameters[n].min;
      }
      const Tuning tuning = tuned(changes);
      const auto kernels = build(&tuning);
      for (size_t i = 0; i < kShapes.size(); ++i) {
        if (changes[i].empty())
          continue;
        const auto &[name, value] = *changes[i].begin();
        for (int64_t tokens : kTokens)
          expectAgreement(run(*kernels, i, tokens), run(*defaults, i, tokens),
                          changesScheduleOnly(keyOf(i).family(), name),
                          keyOf(i).str() + " " + name + "=" + std::to_string(value) +
                              " T=" + std::to_string(tokens));
      }
    }
}

// The attention kernels (plain and raw-key) built with `tuning`.
std::unique_ptr<loom::bench::KernelHarness> buildAttention(const Tuning *tuning) {
  const Attention shape{8, 2, 64, 0, 96, 0.125, true};
  const RawKeyAttention rawKey{{8, 2, 64, 0, 96, 0.125, false}, 1e-6, 10000.0, 16};
  auto kernels = std::make_unique<loom::bench::KernelHarness>(
      std::vector<KernelSpec>{{"tuned_attention", ElementType::F32, shape},
                              {"tuned_raw_key_attention", ElementType::F32, rawKey}},
      loom::testing::testTarget(), tuning);
  kernels->setThreads(2);
  return kernels;
}

// Both kernels' outputs, concatenated, for T tokens at startPos on a cache of 96 positions
// (wrapped past 96), with an image block over tokens 1-3 where T allows.
std::vector<float> runAttention(const loom::bench::KernelHarness &kernels, int64_t tokens,
                                int32_t startPos) {
  constexpr int64_t kQHeads = 8, kKvHeads = 2, kHeadDim = 64, kCapacity = 96;
  loom::bench::FastRandom rng(11 + uint64_t(tokens) + uint64_t(startPos));
  auto random = [&](int64_t n) {
    std::vector<float> values(static_cast<size_t>(n));
    for (float &e : values)
      e = rng.uniform();
    return values;
  };
  std::vector<float> q = random(tokens * kQHeads * kHeadDim),
                     k = random(tokens * kKvHeads * kHeadDim),
                     v = random(tokens * kKvHeads * kHeadDim),
                     cacheKeys = random(kCapacity * kKvHeads * kHeadDim),
                     cacheValues = random(kCapacity * kKvHeads * kHeadDim),
                     kNorm(size_t(kHeadDim), 1.0f);
  std::vector<int32_t> blockIds(size_t(tokens), -1);
  for (int64_t t = 1; t < std::min<int64_t>(tokens, 4) && tokens >= 5; ++t)
    blockIds[size_t(t)] = 0;
  std::vector<float> out(size_t(tokens * kQHeads * kHeadDim), -1.0f),
      rawOut(out.size(), -1.0f);
  const halide_type_t f32(halide_type_float, 32), i32(halide_type_int, 32);
  DenseBuffer qBuf(q.data(), f32, {tokens, kQHeads, kHeadDim}),
      kBuf(k.data(), f32, {tokens, kKvHeads, kHeadDim}),
      vBuf(v.data(), f32, {tokens, kKvHeads, kHeadDim}), ids(blockIds.data(), i32, {tokens}),
      ckBuf(cacheKeys.data(), f32, {kCapacity, kKvHeads, kHeadDim}),
      cvBuf(cacheValues.data(), f32, {kCapacity, kKvHeads, kHeadDim}),
      normBuf(kNorm.data(), f32, {kHeadDim}), outBuf(out.data(), f32, {tokens, kQHeads, kHeadDim}),
      rawOutBuf(rawOut.data(), f32, {tokens, kQHeads, kHeadDim});
  void *args[] = {&qBuf.buffer, &kBuf.buffer, &vBuf.buffer,  &ids.buffer,
                  &startPos,    &ckBuf.buffer, &cvBuf.buffer, &outBuf.buffer};
  loom::bench::callKernel(kernels.entry("tuned_attention"), args, "tuned_attention");
  void *rawArgs[] = {&qBuf.buffer, &kBuf.buffer, &normBuf.buffer, &ids.buffer,
                     &startPos,    &ckBuf.buffer, &rawOutBuf.buffer};
  loom::bench::callKernel(kernels.entry("tuned_raw_key_attention"), rawArgs,
                          "tuned_raw_key_attention");
  out.insert(out.end(), rawOut.begin(), rawOut.end());
  return out;
}

// Each attention tile parameter at both ends of its range, and all three at values that divide
// nothing evenly, from an empty cache, a partly filled one and a wrapped one. The value tile
// changes the schedule only; the heads per task and the score tile change the code of the
// unrolled dot products, and with it the last bits of a score (measured on Zen 4: at most
// 4e-7 of the output range).
TEST(TunedKernels, AttentionTilesAtBothEndsOfTheirRanges) {
  const auto defaults = buildAttention(nullptr);
  const AttentionKey key{8, 2, 64};
  const Tuning base = Tuning::defaults(loom::testing::testTarget());
  std::vector<ScheduleParameters> variants = {
      {{"heads_per_task", 3}, {"score_accumulators", 5}, {"value_accumulators", 3}}};
  for (const TunableParameter &p : tunableParameters(AttentionKey::kFamily))
    for (int value : {p.min, p.max})
      variants.push_back({{p.name, value}});
  const std::vector<std::pair<int64_t, int32_t>> calls = {{1, 40}, {4, 90}, {5, 200}, {67, 0}};
  for (const ScheduleParameters &variant : variants) {
    const Tuning tuning = base.with(key, variant);
    const auto kernels = buildAttention(&tuning);
    std::string what;
    for (const auto &[name, value] : variant)
      what += name + "=" + std::to_string(value) + " ";
    for (auto [tokens, startPos] : calls) {
      const std::vector<float> want = runAttention(*defaults, tokens, startPos);
      ASSERT_TRUE(std::none_of(want.begin(), want.end(), [](float e) { return e == -1.0f; }));
      expectAgreement(runAttention(*kernels, tokens, startPos), want,
                      variant.size() == 1 && variant.count("value_accumulators"),
                      what + "T=" + std::to_string(tokens) + " start " + std::to_string(startPos));
    }
  }
}

} // namespace
